package io.spacegrid.member;

/**
 * {@code settle(order_id, attempt)}: the order is committed, so its hold becomes a sale. If
 * the order's hold exists and this attempt took it, the hold is removed (available stays
 * reduced), "settled" with its qty; else nothing changes, "absent" (also when another attempt
 * took the hold, and when the key has no entry).
 *
 * <p>Why the version bumps although available does not change: the stored value changes
 * (the hold disappears), so the map's event journal records an UPDATED event, and every
 * distinct stored state must carry a distinct version: writers apply only strictly newer
 * versions and events are ordered and de-duplicated by (entity, version); two different
 * states under one version would make that ambiguous.
 */
public final class StockSettle extends StockProcessor {

    private static final long serialVersionUID = 1L;

    public StockSettle() {
    }

    public StockSettle(String orderId, String attempt, String requestId, String changedAt) {
        super(orderId, attempt, requestId, changedAt);
    }

    @Override
    Step apply(StockState s) {
        StockState.Hold existing = s.hold(orderId);
        if (existing == null || !existing.by().equals(attempt)) {
            return new Step(answer("absent", s.stock, NONE), false);
        }
        s.removeHold(orderId);
        return new Step(answer("settled", s.stock, existing.qty()), true);
    }

    @Override
    String missing() {
        return answer("absent", NONE, NONE);
    }

    @Override
    public int getClassId() {
        return MemberFactory.STOCK_SETTLE;
    }
}
