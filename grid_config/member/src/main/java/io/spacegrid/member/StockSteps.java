package io.spacegrid.member;

import com.hazelcast.map.EntryProcessor;
import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.IdentifiedDataSerializable;

import java.io.IOException;
import java.util.Map;
import java.util.StringJoiner;

/**
 * Several stock steps on one product entry, in order, as one atomic change: one call, one
 * stored value, one journal event, one backup (decision 0033).
 *
 * <p>Why: a unit settles the holds of the orders it committed by handing them to the next
 * hold it sends to the same product ({@code [settle a, settle b, hold c]}), or, when no hold
 * comes soon, in one call of settles. Each settle alone cost a processor call, its backup and
 * a journal event that the pump ships; the steps together cost one of each.
 *
 * <p>Semantics: every step is checked first (a bad one refuses the whole call, nothing
 * written); then each step runs on the state the previous ones left, exactly as if it ran
 * alone, and answers as it would alone. When at least one step changed the entry, it is
 * written once: {@code version} + 1 (one stored change, one version), {@code _meta} of the
 * last step that changed it. A missing entry: every step answers its "missing" answer,
 * nothing is created. The answer is the steps' answers as a JSON array, in order.
 *
 * <p>Deterministic (the backup re-runs it), and like a single step it sends no backup when
 * nothing changed.
 */
public final class StockSteps implements EntryProcessor<Object, Object, String>, IdentifiedDataSerializable {

    private static final long serialVersionUID = 1L;

    /** more steps than this in one call are refused (the unit sends tens at most) */
    static final int MAX_STEPS = 1024;

    private StockProcessor[] steps;

    private transient boolean processed;
    private transient boolean changed;

    public StockSteps() {
    }

    StockSteps(StockProcessor... steps) {
        this.steps = steps;
    }

    @Override
    public String process(Map.Entry<Object, Object> entry) {
        if (steps == null || steps.length == 0) {
            throw new IllegalArgumentException("stock steps: at least one step");
        }
        for (StockProcessor step : steps) {
            step.check();
        }
        Object value = entry.getValue();
        processed = true;
        StringJoiner answers = new StringJoiner(",", "[", "]");
        if (value == null) {
            for (StockProcessor step : steps) {
                answers.add(step.missing());
            }
            return answers.toString();
        }
        StockState state = StockState.of(value);
        StockProcessor last = null;
        for (StockProcessor step : steps) {
            StockProcessor.Step done = step.apply(state);
            answers.add(done.answer());
            if (done.changed()) {
                last = step;
            }
        }
        if (last != null) {
            entry.setValue(state.changed(last.requestId, last.changedAt));
            changed = true;
        }
        return answers.toString();
    }

    /** As {@link StockProcessor#getBackupProcessor()}: no backup when nothing changed. */
    @Override
    public EntryProcessor<Object, Object, String> getBackupProcessor() {
        return processed && !changed ? null : this;
    }

    @Override
    public int getFactoryId() {
        return MemberFactory.FACTORY_ID;
    }

    @Override
    public int getClassId() {
        return MemberFactory.STOCK_STEPS;
    }

    /** The number of steps, then each step's class id and its own fields. */
    @Override
    public void writeData(ObjectDataOutput out) throws IOException {
        out.writeInt(steps.length);
        for (StockProcessor step : steps) {
            out.writeInt(step.getClassId());
            step.writeData(out);
        }
    }

    @Override
    public void readData(ObjectDataInput in) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > MAX_STEPS) {
            throw new IOException("stock steps: " + n + " steps (at most " + MAX_STEPS + ")");
        }
        MemberFactory factory = new MemberFactory();
        steps = new StockProcessor[n];
        for (int i = 0; i < n; i++) {
            int classId = in.readInt();
            if (!(factory.create(classId) instanceof StockProcessor step)) {
                throw new IOException("stock steps: class id " + classId + " is not a stock step");
            }
            step.readData(in);
            steps[i] = step;
        }
    }
}
