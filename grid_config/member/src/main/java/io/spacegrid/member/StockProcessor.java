package io.spacegrid.member;

import com.hazelcast.internal.json.JsonObject;
import com.hazelcast.map.EntryProcessor;
import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.IdentifiedDataSerializable;

import java.io.IOException;
import java.util.Map;

/**
 * Base of the stock processors: one atomic step on one product entry, run on the partition
 * thread of the key's owner, answering a small canonical JSON string
 * ({@code {"available":n,"outcome":"held","qty":q}}) that Python decodes with orjson.
 *
 * <p>Deterministic by construction: the backup replica re-runs the same processor on its
 * copy (Hazelcast's {@code EntryBackupOperation}), so everything time-dependent (the hold's
 * timestamp) comes in as an argument. A step that changes nothing never calls
 * {@code setValue}: no journal event, no stored-value churn. It also sends no backup (see
 * {@link #getBackupProcessor()}).
 */
abstract class StockProcessor implements EntryProcessor<Object, Object, String>, IdentifiedDataSerializable {

    private static final long serialVersionUID = 1L;

    protected String orderId;

    /** Set by {@link #process}: whether it ran, and whether it changed the entry. */
    private transient boolean processed;
    private transient boolean changed;

    StockProcessor() {
    }

    StockProcessor(String orderId) {
        this.orderId = orderId;
    }

    /** What one step did: the answer, and whether the state must be written. */
    record Step(String answer, boolean changed) {
    }

    /** Applies the step to an existing entry; mutates {@code state} only when it answers changed. */
    abstract Step apply(StockState state);

    /** The answer when the key has no entry (nothing is ever created). */
    abstract String missing();

    @Override
    public final String process(Map.Entry<Object, Object> entry) {
        if (orderId == null || orderId.isEmpty()) {
            throw new IllegalArgumentException("order id must be a non-empty string");
        }
        Object value = entry.getValue();
        processed = true;
        if (value == null) {
            return missing();
        }
        StockState state = StockState.of(value);
        Step step = apply(state);
        if (step.changed()) {
            entry.setValue(state.toValue());
            changed = true;
        }
        return step.answer();
    }

    /**
     * The backup re-runs this processor, but only when the primary changed something.
     *
     * <p>Hazelcast 5.6 sends a backup whenever {@code getBackupProcessor()} is non-null
     * ({@code EntryOperation.shouldBackup()} does not look at whether the entry changed), and
     * asks for it only after {@code process} ran on the primary. A no-op (idempotent repeat,
     * "short", "absent") therefore returns null here: no backup round trip, no backup ack to
     * wait for. Before {@code process} ran (or if a future version asked earlier) the answer is
     * {@code this}, which is always correct: the processor is deterministic. The flag is sticky
     * over several keys (executeOnKeys runs one instance on many entries).
     */
    @Override
    public EntryProcessor<Object, Object, String> getBackupProcessor() {
        return processed && !changed ? null : this;
    }

    @Override
    public int getFactoryId() {
        return MemberFactory.FACTORY_ID;
    }

    @Override
    public void writeData(ObjectDataOutput out) throws IOException {
        out.writeString(orderId);
    }

    @Override
    public void readData(ObjectDataInput in) throws IOException {
        orderId = in.readString();
    }

    /** {"available": a, "outcome": o, "qty": q}; a or q left out when negative. */
    static String answer(String outcome, long available, long qty) {
        JsonObject o = new JsonObject();
        if (available >= 0) {
            o.add("available", available);
        }
        o.add("outcome", outcome);
        if (qty >= 0) {
            o.add("qty", qty);
        }
        return CanonicalJson.write(o);
    }

    static final long NONE = -1;
}
