package io.spacegrid.member;

import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;

import java.io.IOException;

/**
 * {@code hold(order_id, qty, now_ms)}: take {@code qty} out of the available stock for one
 * order, idempotently.
 * <ul>
 *   <li>a hold for the order exists: nothing changes, "held" with the existing hold's qty
 *       (a retry gets the first answer);</li>
 *   <li>available &lt; qty: nothing changes, "short" with the available count;</li>
 *   <li>else available -= qty, {@code holds[order_id] = {"at": now_ms, "qty": qty}},
 *       version += 1, "held";</li>
 *   <li>no entry: "missing" (nothing is created).</li>
 * </ul>
 */
public final class StockHold extends StockProcessor {

    private static final long serialVersionUID = 1L;

    private long qty;
    private long nowMs;

    public StockHold() {
    }

    public StockHold(String orderId, long qty, long nowMs) {
        super(orderId);
        this.qty = qty;
        this.nowMs = nowMs;
    }

    @Override
    Step apply(StockState s) {
        if (qty <= 0) {
            throw new IllegalArgumentException("qty must be positive, got " + qty);
        }
        long held = s.heldQty(orderId);
        if (held >= 0) {
            return new Step(answer("held", s.stock, held), false);
        }
        if (s.stock < qty) {
            return new Step(answer("short", s.stock, NONE), false);
        }
        s.stock -= qty;
        s.version += 1;
        s.addHold(orderId, qty, nowMs);
        return new Step(answer("held", s.stock, qty), true);
    }

    @Override
    String missing() {
        return answer("missing", NONE, NONE);
    }

    @Override
    public int getClassId() {
        return MemberFactory.STOCK_HOLD;
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
