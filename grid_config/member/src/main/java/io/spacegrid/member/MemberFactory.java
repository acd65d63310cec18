package io.spacegrid.member;

import com.hazelcast.nio.serialization.DataSerializableFactory;
import com.hazelcast.nio.serialization.IdentifiedDataSerializable;

/**
 * The one {@link DataSerializableFactory} of spacegrid's member-side code, registered in
 * grid_config/hazelcast.yaml ({@code serialization: data-serializable-factories}). The ids are
 * a wire contract shared with grid_config/entry_processors.py: never reuse or renumber one.
 */
public final class MemberFactory implements DataSerializableFactory {

    public static final int FACTORY_ID = 7311;

    public static final int STOCK_HOLD = 1;
    public static final int STOCK_RELEASE = 2;
    public static final int STOCK_SETTLE = 3;
    public static final int CREDITS_TAKE = 4;
    public static final int CREDITS_GIVE = 5;
    public static final int STOCK_RETURN = 6;
    public static final int STOCK_FORGET = 7;
    /** a task, not an entry processor: run on every member by `spacegrid grid status` */
    public static final int MEMBER_STATUS = 8;
    public static final int STOCK_STEPS = 9;
    /** a comparator, not an entry processor: a query page's order (HazelcastGrid.query) */
    public static final int ID_ORDER = 10;

    @Override
    public IdentifiedDataSerializable create(int classId) {
        return switch (classId) {
            case STOCK_HOLD -> new StockHold();
            case STOCK_RELEASE -> new StockRelease();
            case STOCK_SETTLE -> new StockSettle();
            case CREDITS_TAKE -> new CreditsTake();
            case CREDITS_GIVE -> new CreditsGive();
            case STOCK_RETURN -> new StockReturn();
            case STOCK_FORGET -> new StockForget();
            case MEMBER_STATUS -> new MemberStatus();
            case STOCK_STEPS -> new StockSteps();
            case ID_ORDER -> new IdOrder();
            default -> null; // Hazelcast reports an unknown class id itself
        };
    }
}
