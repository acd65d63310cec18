package io.spacegrid.member;

/**
 * {@code release(order_id)}: give a hold back, exactly once. If the hold exists, available +=
 * its qty, the hold is removed, version += 1, "released" with that qty; else nothing
 * changes, "absent" (also when the key has no entry).
 */
public final class StockRelease extends StockProcessor {

    private static final long serialVersionUID = 1L;

    public StockRelease() {
    }

    public StockRelease(String orderId) {
        super(orderId);
    }

    @Override
    Step apply(StockState s) {
        long held = s.heldQty(orderId);
        if (held < 0) {
            return new Step(answer("absent", s.stock, NONE), false);
        }
        s.stock += held;
        s.version += 1;
        s.removeHold(orderId);
        return new Step(answer("released", s.stock, held), true);
    }

    @Override
    String missing() {
        return answer("absent", NONE, NONE);
    }

    @Override
    public int getClassId() {
        return MemberFactory.STOCK_RELEASE;
    }
}
