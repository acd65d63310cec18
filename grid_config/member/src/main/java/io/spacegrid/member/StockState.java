package io.spacegrid.member;

import com.hazelcast.core.HazelcastJsonValue;
import com.hazelcast.internal.json.JsonObject;
import com.hazelcast.internal.json.JsonValue;

/**
 * The stock part of one product entry (map {@code products}: the whole product, decision
 * 0017), parsed from and written back to a {@link HazelcastJsonValue}:
 * <pre>
 * {"stock": n, "version": v,
 *  "holds": {order_id: {"at": ms, "by": attempt, "qty": q}},
 *  "returns": {order_id: {"at": ms, "qty": q}},
 *  "_meta": {"changed_at": iso, "request_id": rid}, ...}
 * </pre>
 *
 * <p>{@code holds} and {@code returns} are omitted when empty, so an entry without them is
 * byte-identical to the shape written before they existed. A hold without {@code by} (written
 * before holds were scoped to an attempt) counts as taken by attempt {@code ""}. Every other
 * field of the document (the catalog fields, the Python adapter's {@code _sk} sort key) is
 * kept as it was; {@code _meta} is replaced on every change ({@link #changed}).
 */
final class StockState {

    static final String STOCK = "stock";
    static final String PRICE_CENTS = "price_cents";
    static final String VERSION = "version";
    static final String HOLDS = "holds";
    static final String RETURNS = "returns";
    static final String QTY = "qty";
    static final String AT = "at";
    static final String BY = "by";
    static final String META = "_meta";
    static final String CHANGED_AT = "changed_at";
    static final String REQUEST_ID = "request_id";

    /** One hold: its quantity and the attempt that took it. */
    record Hold(long qty, String by) {
    }

    private final JsonObject doc;
    private final JsonObject holds;
    private final JsonObject returns;
    long stock;

    private StockState(JsonObject doc) {
        this.doc = doc;
        this.stock = requireLong(doc, STOCK, "stock entry");
        requireLong(doc, VERSION, "stock entry");
        this.holds = object(doc, HOLDS);
        this.returns = object(doc, RETURNS);
    }

    /** The stock state of a map value, which must be a {@link HazelcastJsonValue}. */
    static StockState of(Object value) {
        if (!(value instanceof HazelcastJsonValue json)) {
            throw new IllegalStateException("stock entry is not a HazelcastJsonValue: " + value.getClass().getName());
        }
        return new StockState(CanonicalJson.parseObject(json.getValue()));
    }

    /** The entry's {@code price_cents} when it is an integer, else -1 (the hold's answer
     * carries it, so a placement needs no read of the product first). */
    long priceCents() {
        JsonValue v = doc.get(PRICE_CENTS);
        if (v == null || !v.isNumber()) {
            return -1;
        }
        try {
            return v.asLong();
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** The hold for {@code orderId}, or null when there is none. */
    Hold hold(String orderId) {
        JsonValue hold = holds.get(orderId);
        if (hold == null) {
            return null;
        }
        if (!hold.isObject()) {
            throw new IllegalStateException("stock entry: hold " + orderId + " is not an object");
        }
        JsonValue by = hold.asObject().get(BY);
        if (by != null && !by.isString()) {
            throw new IllegalStateException("stock entry: hold " + orderId + " has a 'by' that is not a string");
        }
        long qty = requireLong(hold.asObject(), QTY, "stock entry: hold " + orderId);
        return new Hold(qty, by == null ? "" : by.asString());
    }

    void addHold(String orderId, String by, long qty, long atMs) {
        holds.set(orderId, new JsonObject().add(AT, atMs).add(BY, by).add(QTY, qty));
    }

    void removeHold(String orderId) {
        holds.remove(orderId);
    }

    /** The quantity of the return marker of {@code orderId}, or -1 when there is none. */
    long returnedQty(String orderId) {
        JsonValue marker = returns.get(orderId);
        if (marker == null) {
            return -1;
        }
        if (!marker.isObject()) {
            throw new IllegalStateException("stock entry: return " + orderId + " is not an object");
        }
        return requireLong(marker.asObject(), QTY, "stock entry: return " + orderId);
    }

    void addReturn(String orderId, long qty, long atMs) {
        returns.set(orderId, new JsonObject().add(AT, atMs).add(QTY, qty));
    }

    void removeReturn(String orderId) {
        returns.remove(orderId);
    }

    /**
     * The canonical value to store after a change: version + 1, {@code _meta} of this change
     * ({@code {"changed_at", "request_id"}}, as Python's {@code events.stamped}), sorted keys,
     * compact, {@code holds} and {@code returns} omitted when empty.
     */
    HazelcastJsonValue changed(String requestId, String changedAt) {
        doc.set(STOCK, stock);
        doc.set(VERSION, Math.addExact(requireLong(doc, VERSION, "stock entry"), 1L));
        setOrRemove(HOLDS, holds);
        setOrRemove(RETURNS, returns);
        doc.set(META, new JsonObject().add(CHANGED_AT, changedAt).add(REQUEST_ID, requestId));
        return new HazelcastJsonValue(CanonicalJson.write(doc));
    }

    private void setOrRemove(String name, JsonObject o) {
        if (o.isEmpty()) {
            doc.remove(name);
        } else {
            doc.set(name, o);
        }
    }

    private static JsonObject object(JsonObject doc, String name) {
        JsonValue v = doc.get(name);
        if (v == null || v.isNull()) {
            return new JsonObject();
        }
        if (!v.isObject()) {
            throw new IllegalStateException("stock entry: '" + name + "' is not an object");
        }
        return v.asObject();
    }

    private static long requireLong(JsonObject o, String name, String where) {
        JsonValue v = o.get(name);
        if (v == null || !v.isNumber()) {
            throw new IllegalStateException(where + ": '" + name + "' is missing or not a number");
        }
        try {
            return v.asLong();
        } catch (NumberFormatException e) {
            throw new IllegalStateException(where + ": '" + name + "' is not an integer: " + v, e);
        }
    }
}
