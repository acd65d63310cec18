package io.spacegrid.member;

import com.hazelcast.core.HazelcastJsonValue;
import com.hazelcast.internal.json.JsonObject;
import com.hazelcast.internal.json.JsonValue;

/**
 * The stock part of one product entry (map {@code products}: the whole product, decision
 * 0017), {@code {"stock": n, "version": v, "holds": {order_id: {"at": ms, "qty": q}}, ...}},
 * parsed from and written back to a {@link HazelcastJsonValue}.
 *
 * <p>{@code holds} is omitted when empty, so an entry without holds is byte-identical to the
 * shape written before holds existed. Every other field of the document (the catalog fields,
 * the Python adapter's {@code _sk} sort key) is kept as it was.
 */
final class StockState {

    static final String STOCK = "stock";
    static final String VERSION = "version";
    static final String HOLDS = "holds";
    static final String QTY = "qty";
    static final String AT = "at";

    private final JsonObject doc;
    private final JsonObject holds;
    long stock;
    long version;

    private StockState(JsonObject doc) {
        this.doc = doc;
        this.stock = requireLong(doc, STOCK);
        this.version = requireLong(doc, VERSION);
        JsonValue h = doc.get(HOLDS);
        if (h == null || h.isNull()) {
            this.holds = new JsonObject();
        } else if (h.isObject()) {
            this.holds = h.asObject();
        } else {
            throw new IllegalStateException("stock entry: 'holds' is not an object");
        }
    }

    /** The stock state of a map value, which must be a {@link HazelcastJsonValue}. */
    static StockState of(Object value) {
        if (!(value instanceof HazelcastJsonValue json)) {
            throw new IllegalStateException("stock entry is not a HazelcastJsonValue: " + value.getClass().getName());
        }
        return new StockState(CanonicalJson.parseObject(json.getValue()));
    }

    /** The quantity held for {@code orderId}, or -1 when there is no such hold. */
    long heldQty(String orderId) {
        JsonValue hold = holds.get(orderId);
        if (hold == null) {
            return -1;
        }
        if (!hold.isObject()) {
            throw new IllegalStateException("stock entry: hold " + orderId + " is not an object");
        }
        return requireLong(hold.asObject(), QTY);
    }

    void addHold(String orderId, long qty, long atMs) {
        holds.set(orderId, new JsonObject().add(AT, atMs).add(QTY, qty));
    }

    void removeHold(String orderId) {
        holds.remove(orderId);
    }

    /** The canonical value to store (sorted keys, compact; {@code holds} omitted when empty). */
    HazelcastJsonValue toValue() {
        doc.set(STOCK, stock);
        doc.set(VERSION, version);
        if (holds.isEmpty()) {
            doc.remove(HOLDS);
        } else {
            doc.set(HOLDS, holds);
        }
        return new HazelcastJsonValue(CanonicalJson.write(doc));
    }

    private static long requireLong(JsonObject o, String name) {
        JsonValue v = o.get(name);
        if (v == null || !v.isNumber()) {
            throw new IllegalStateException("stock entry: '" + name + "' is missing or not a number");
        }
        try {
            return v.asLong();
        } catch (NumberFormatException e) {
            throw new IllegalStateException("stock entry: '" + name + "' is not an integer: " + v, e);
        }
    }
}
