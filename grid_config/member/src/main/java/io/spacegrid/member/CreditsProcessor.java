package io.spacegrid.member;

import com.hazelcast.core.HazelcastJsonValue;
import com.hazelcast.internal.json.JsonObject;
import com.hazelcast.internal.json.JsonValue;
import com.hazelcast.map.EntryProcessor;
import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.IdentifiedDataSerializable;

import java.io.IOException;
import java.util.Map;

/**
 * Base of the journal-credit processors (G7, decision 0018): one atomic step on one counter
 * entry of the map {@code <namespace>journal-credits}, key {@code "<map name>#<partition>"},
 * value {@code {"credits": c}}. A missing entry means the full budget ({@code c = bound});
 * a stored count above the bound (the bound was lowered since) counts as the bound.
 *
 * <p>Same rules as {@link StockProcessor}: deterministic (the backup re-runs it), a step that
 * changes nothing never calls {@code setValue} and sends no backup, values and answers are
 * canonical JSON ({@link CanonicalJson}), other fields of the entry are kept.
 */
abstract class CreditsProcessor implements EntryProcessor<Object, Object, String>, IdentifiedDataSerializable {

    private static final long serialVersionUID = 1L;

    static final String CREDITS = "credits";

    protected long n;
    protected long bound;

    private transient boolean processed;
    private transient boolean changed;

    CreditsProcessor() {
    }

    CreditsProcessor(long n, long bound) {
        this.n = n;
        this.bound = bound;
    }

    /** The answer, and the new count to store (or {@code NONE}: nothing changes). */
    record Step(String answer, long store) {
    }

    static final long NONE = -1;

    /** One step from the effective count {@code c} (0 &lt;= c &lt;= bound). */
    abstract Step apply(long c);

    @Override
    public final String process(Map.Entry<Object, Object> entry) {
        if (n <= 0) {
            throw new IllegalArgumentException("n must be positive, got " + n);
        }
        if (bound <= 0) {
            throw new IllegalArgumentException("bound must be positive, got " + bound);
        }
        Object value = entry.getValue();
        JsonObject doc = value == null ? null : parse(value);
        long c = doc == null ? bound : Math.min(bound, credits(doc));
        processed = true;
        Step step = apply(c);
        if (step.store() != NONE) {
            JsonObject out = doc == null ? new JsonObject() : doc;
            out.set(CREDITS, step.store());
            entry.setValue(new HazelcastJsonValue(CanonicalJson.write(out)));
            changed = true;
        }
        return step.answer();
    }

    /** As {@link StockProcessor#getBackupProcessor()}: no backup after a no-op. */
    @Override
    public EntryProcessor<Object, Object, String> getBackupProcessor() {
        return processed && !changed ? null : this;
    }

    private static JsonObject parse(Object value) {
        if (!(value instanceof HazelcastJsonValue json)) {
            throw new IllegalStateException("credits entry is not a HazelcastJsonValue: " + value.getClass().getName());
        }
        return CanonicalJson.parseObject(json.getValue());
    }

    private static long credits(JsonObject doc) {
        JsonValue v = doc.get(CREDITS);
        if (v == null || !v.isNumber()) {
            throw new IllegalStateException("credits entry: 'credits' is missing or not a number");
        }
        long c;
        try {
            c = v.asLong();
        } catch (NumberFormatException e) {
            throw new IllegalStateException("credits entry: 'credits' is not an integer: " + v, e);
        }
        if (c < 0) {
            throw new IllegalStateException("credits entry: 'credits' is negative: " + c);
        }
        return c;
    }

    /** {"capped": k, "credits": c, "outcome": o}; capped left out when 0. */
    static String answer(String outcome, long credits, long capped) {
        JsonObject o = new JsonObject();
        if (capped > 0) {
            o.add("capped", capped);
        }
        o.add(CREDITS, credits);
        o.add("outcome", outcome);
        return CanonicalJson.write(o);
    }

    @Override
    public int getFactoryId() {
        return MemberFactory.FACTORY_ID;
    }

    @Override
    public void writeData(ObjectDataOutput out) throws IOException {
        out.writeLong(n);
        out.writeLong(bound);
    }

    @Override
    public void readData(ObjectDataInput in) throws IOException {
        n = in.readLong();
        bound = in.readLong();
    }
}
