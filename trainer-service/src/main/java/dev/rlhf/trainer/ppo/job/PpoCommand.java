package dev.rlhf.trainer.ppo.job;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.google.protobuf.util.JsonFormat;

import dev.rlhf.model.ModelStore;
import dev.rlhf.model.StoredVersion;
import dev.rlhf.proto.v1.PpoConfig;
import dev.rlhf.trainer.ModelAnnouncer;

/**
 * A PPO job in a process of its own, without the trainer service:
 * <pre>
 *   PpoCommand --config ppo.json --store DIR --checkpoints DIR --job NAME
 *              [--bootstrap HOST:PORT] [--topic rlhf.rollouts.v1] [--models-topic rlhf.models.v1] [--resume]
 *              [--since-now]
 * </pre>
 * {@code --config} is a PpoConfig in its proto3 JSON form. A fresh start reads the whole
 * retained topic, or with {@code --since-now} only what is published from now on. Each iteration prints a line; the
 * line {@code training iteration N} is printed (and flushed) when training on a complete
 * batch begins, which the crash test waits for before it kills the process.
 */
public final class PpoCommand {

    private static final Set<String> OPTIONS = Set.of("config", "store", "checkpoints", "job", "bootstrap", "topic",
            "models-topic");

    public static void main(String[] args) throws Exception {
        Map<String, String> o = new HashMap<>(Map.of("bootstrap", "127.0.0.1:9092", "topic", "rlhf.rollouts.v1",
                "models-topic", "rlhf.models.v1"));
        boolean resume = false;
        boolean sinceNow = false;
        for (int i = 0; i < args.length; i++) {
            String key = args[i].replaceFirst("^--", "");
            if (key.equals("resume")) {
                resume = true;
            } else if (key.equals("since-now")) {
                sinceNow = true;
            } else if (OPTIONS.contains(key) && i + 1 < args.length) {
                o.put(key, args[++i]);
            } else {
                throw new IllegalArgumentException("usage: PpoCommand --config FILE --store DIR --checkpoints DIR --job"
                        + " NAME [--bootstrap HOST:PORT] [--topic T] [--models-topic T] [--resume] [--since-now]; bad option " + args[i]);
            }
        }
        for (String required : Set.of("config", "store", "checkpoints", "job")) {
            if (!o.containsKey(required)) {
                throw new IllegalArgumentException("--" + required + " is required");
            }
        }
        PpoConfig.Builder config = PpoConfig.newBuilder();
        JsonFormat.parser().merge(Files.readString(Path.of(o.get("config"))), config);
        PpoSettings settings = PpoSettings.of(config.build(), o.get("topic"));
        PpoJob job = new PpoJob(settings, new ModelStore(Path.of(o.get("store"))), o.get("bootstrap"),
                Path.of(o.get("checkpoints")).resolve(o.get("job")), o.get("job"));
        try (ModelAnnouncer announcer = new ModelAnnouncer(o.get("bootstrap"), o.get("models-topic"))) {
            PpoJob.Result r = job.run(resume, sinceNow ? Instant.now() : null, new PpoJob.Listener() {
                @Override
                public void started(long resumedAt, StoredVersion policy, StoredVersion reference) {
                    System.out.println((resumedAt < 0 ? "fresh start" : "resumed at iteration " + resumedAt) + " from "
                            + policy.name() + " v" + policy.version() + ", reference " + reference.name() + " v"
                            + reference.version());
                    System.out.flush();
                }

                @Override
                public void training(long iteration, List<String> ids) {
                    System.out.println("training iteration " + iteration + " on " + ids.size() + " rollouts");
                    System.out.flush();
                }

                @Override
                public void iteration(PpoJob.Report r) {
                    System.out.printf("iteration %d done: reward %.3f KL %.3f β %.4f clip %.3f%s%s; wait %d ms, train %d"
                            + " ms%n", r.iteration(), r.meanReward(), r.diagnostics().meanKl(), r.diagnostics().beta(),
                            r.diagnostics().clipFraction(), r.exported() == null ? "" : ", exported "
                                    + r.exported().name() + " v" + r.exported().version(),
                            r.checkpointed() ? ", checkpointed" : "", r.waitMillis(), r.trainMillis());
                    System.out.flush();
                }
            }, v -> announcer.announce(v, "ppo-command-" + o.get("job")), () -> false);
            System.out.println("done after " + r.iterations() + " iterations");
        }
    }
}
