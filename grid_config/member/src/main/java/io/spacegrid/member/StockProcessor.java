package io.spacegrid.member;

import com.hazelcast.internal.json.JsonObject;
import com.hazelcast.map.EntryProcessor;
import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.IdentifiedDataSerializable;

import java.io.IOException;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Base of the stock processors (G5): one atomic step on one product entry ({@link StockState}),
 * run on the partition thread of the key's owner, answering a small canonical JSON string
 * ({@code {"available":n,"outcome":"held","qty":q}}) that Python decodes with orjson.
 *
 * <p>The steps, one class each (grid_config/entry_processors.py holds the same semantics as
 * pure functions for the in-process grid, and the contract test holds both to one behaviour):
 * <ul>
 *   <li>{@link StockHold}: take stock for an order, scoped to one attempt ("held", "busy",
 *       "short");</li>
 *   <li>{@link StockRelease} / {@link StockSettle}: give back / sell the hold the same
 *       attempt took ("released" / "settled", else "absent");</li>
 *   <li>{@link StockReturn}: a cancelled order gives its sold stock back, exactly once
 *       (a marker per order; "returned");</li>
 *   <li>{@link StockForget}: drop a return marker ("forgot", else "absent").</li>
 * </ul>
 * A missing entry is never created: "missing" for hold and return, "absent" otherwise.
 *
 * <p>Why holds are scoped to an attempt: order ids are derived (user + idempotency key, G6),
 * so a duplicate request carries the first one's order id. Each request is its own attempt:
 * a duplicate that finds another attempt's hold gets "busy", and its release or settle is
 * "absent" and changes nothing, so it can never give back or sell stock it did not take. Why
 * returns carry a marker: a retried or duplicated cancel finds it and changes nothing, so a
 * cancel's give-back happens exactly once.
 *
 * <p>Wire fields, in this order: {@code order_id} (non-empty), {@code attempt},
 * {@code request_id}, {@code changed_at} (ISO-8601 UTC with milliseconds), then the class's
 * own fields. Every change bumps {@code version} by 1 and sets {@code _meta} to
 * {@code {"changed_at", "request_id"}} of the step (see {@link StockState#changed}).
 *
 * <p>Deterministic by construction: the backup replica re-runs the same processor on its
 * copy (Hazelcast's {@code EntryBackupOperation}), so everything time-dependent (the hold's and
 * the return's {@code at}, {@code changed_at}) comes in as an argument; nothing here reads a
 * clock. A step that changes nothing never calls {@code setValue}: the entry stays
 * byte-identical, no journal event. It also sends no backup (see {@link #getBackupProcessor()}).
 */
abstract class StockProcessor implements EntryProcessor<Object, Object, String>, IdentifiedDataSerializable {

    private static final long serialVersionUID = 1L;

    /** The contract's timestamp, as Python's {@code events.utc_now_iso} writes it. */
    private static final Pattern CHANGED_AT =
            Pattern.compile("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z");

    protected String orderId;
    protected String attempt;
    protected String requestId;
    protected String changedAt;

    /** Set by {@link #process}: whether it ran, and whether it changed the entry. */
    private transient boolean processed;
    private transient boolean changed;

    StockProcessor() {
    }

    StockProcessor(String orderId, String attempt, String requestId, String changedAt) {
        this.orderId = orderId;
        this.attempt = attempt;
        this.requestId = requestId;
        this.changedAt = changedAt;
    }

    /** What one step did: the answer, and whether the state must be written. */
    record Step(String answer, boolean changed) {
    }

    /** Applies the step to an existing entry; mutates {@code state} only when it answers changed. */
    abstract Step apply(StockState state);

    /** The answer when the key has no entry (nothing is ever created). */
    abstract String missing();

    /** Refuses bad arguments of the class's own fields (before the entry is looked at). */
    void validate() {
    }

    @Override
    public final String process(Map.Entry<Object, Object> entry) {
        check();
        Object value = entry.getValue();
        processed = true;
        if (value == null) {
            return missing();
        }
        StockState state = StockState.of(value);
        Step step = apply(state);
        if (step.changed()) {
            entry.setValue(state.changed(requestId, changedAt));
            changed = true;
        }
        return step.answer();
    }

    /** Refuses bad arguments (the common fields, then {@link #validate}) before any entry is read. */
    final void check() {
        if (orderId == null || orderId.isEmpty()) {
            throw new IllegalArgumentException("order id must be a non-empty string");
        }
        if (attempt == null) {
            throw new IllegalArgumentException("attempt must be a string");
        }
        if (requestId == null) {
            throw new IllegalArgumentException("request id must be a string");
        }
        if (changedAt == null || !CHANGED_AT.matcher(changedAt).matches()) {
            throw new IllegalArgumentException("changed_at must be ISO-8601 UTC with milliseconds, got " + changedAt);
        }
        validate();
    }

    /**
     * The backup re-runs this processor, but only when the primary changed something.
     *
     * <p>Hazelcast 5.6 sends a backup whenever {@code getBackupProcessor()} is non-null
     * ({@code EntryOperation.shouldBackup()} does not look at whether the entry changed), and
     * asks for it only after {@code process} ran on the primary. A no-op (idempotent repeat,
     * "short", "busy", "absent") therefore returns null here: no backup round trip, no backup
     * ack to wait for. Before {@code process} ran (or if a future version asked earlier) the
     * answer is {@code this}, which is always correct: the processor is deterministic. The flag
     * is sticky over several keys (executeOnKeys runs one instance on many entries).
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
        out.writeString(attempt);
        out.writeString(requestId);
        out.writeString(changedAt);
    }

    @Override
    public void readData(ObjectDataInput in) throws IOException {
        orderId = in.readString();
        attempt = in.readString();
        requestId = in.readString();
        changedAt = in.readString();
    }

    /** {"available": a, "outcome": o, "qty": q}; a or q left out when negative. */
    static String answer(String outcome, long available, long qty) {
        return CanonicalJson.write(answerObject(outcome, available, qty));
    }

    /** "held", with {@code price_cents} too (left out when negative). */
    static String held(long available, long qty, long priceCents) {
        JsonObject o = answerObject("held", available, qty);
        if (priceCents >= 0) {
            o.add("price_cents", priceCents);
        }
        return CanonicalJson.write(o);
    }

    private static JsonObject answerObject(String outcome, long available, long qty) {
        JsonObject o = new JsonObject();
        if (available >= 0) {
            o.add("available", available);
        }
        o.add("outcome", outcome);
        if (qty >= 0) {
            o.add("qty", qty);
        }
        return o;
    }

    static final long NONE = -1;

    /** Base of the processors with {@code qty} and {@code now_ms} after the common fields. */
    abstract static class Quantified extends StockProcessor {

        private static final long serialVersionUID = 1L;

        protected long qty;
        protected long nowMs;

        Quantified() {
        }

        Quantified(String orderId, String attempt, long qty, long nowMs, String requestId, String changedAt) {
            super(orderId, attempt, requestId, changedAt);
            this.qty = qty;
            this.nowMs = nowMs;
        }

        @Override
        void validate() {
            if (qty <= 0) {
                throw new IllegalArgumentException("qty must be positive, got " + qty);
            }
        }

        @Override
        public void writeData(ObjectDataOutput out) throws IOException {
            super.writeData(out);
            out.writeLong(qty);
            out.writeLong(nowMs);
        }

        @Override
        public void readData(ObjectDataInput in) throws IOException {
            super.readData(in);
            qty = in.readLong();
            nowMs = in.readLong();
        }
    }
}
