package io.spacegrid.member;

/**
 * {@code give(n, bound)}: the pump gives back {@code n} credits after Kafka acknowledged
 * {@code n} shipped entries of one (map, partition) journal. c = min(bound, c + n), stored
 * only if that changed c; "given" with the new c and, when the bound cut it, how many of
 * {@code n} were dropped ("capped"). A missing entry is already at the bound: it stays
 * missing (nothing is created).
 */
public final class CreditsGive extends CreditsProcessor {

    private static final long serialVersionUID = 1L;

    public CreditsGive() {
    }

    public CreditsGive(long n, long bound) {
        super(n, bound);
    }

    @Override
    Step apply(long c) {
        long room = bound - c; // 0 <= room <= bound: no overflow
        long added = Math.min(n, room);
        long after = c + added;
        return new Step(answer("given", after, n - added), added == 0 ? NONE : after);
    }

    @Override
    public int getClassId() {
        return MemberFactory.CREDITS_GIVE;
    }
}
