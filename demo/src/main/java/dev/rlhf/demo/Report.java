package dev.rlhf.demo;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

import dev.rlhf.demo.task.GoldJudge;

/** The demo's report: {@code report.txt} and {@code report.html} (inline SVG plots, no scripts). */
final class Report {

    private Report() {
    }

    /** Whether each outcome target is met, as the report prints them. */
    record Targets(boolean rmNearCeiling, boolean winRate, boolean klInBudget) {
        static Targets of(Demo.Outcome o, double targetKl) {
            return new Targets(o.rmAccuracy() >= o.noiseCeiling() - 0.05, o.greedy().winRate() >= 0.70,
                    o.meanKl() <= targetKl);
        }
    }

    /** "wins 24, ties 40, losses 1; SFT already scores 1 on 34 prompts". */
    static String counts(Demo.Comparison c) {
        return String.format(Locale.ROOT, "wins %d, ties %d, losses %d; SFT already scores 1 on %d prompts", c.wins(),
                c.ties(), c.losses(), c.sftPerfect());
    }

    static void write(Demo.Outcome o, List<String> prompts, List<String> before, List<String> after, GoldJudge gold,
            List<String> log, double targetKl) throws IOException {
        Targets t = Targets.of(o, targetKl);
        StringBuilder txt = new StringBuilder();
        txt.append("RLHF demo report\n\n");
        txt.append(line("reward model held-out accuracy", o.rmAccuracy(), String.format(Locale.ROOT,
                ">= noise ceiling %.3f - 0.05", o.noiseCeiling()), t.rmNearCeiling()));
        txt.append(String.format(Locale.ROOT, "  (the labelers' noise ceiling on the reward model's held-out pairs; on"
                + " all %d labeled pairs %.3f)%n", o.labels(), o.noiseCeilingAll()));
        txt.append(line("final policy preferred over SFT by the gold judge", o.greedy().winRate(), ">= 0.70",
                t.winRate()));
        txt.append("  (greedy answers, ties counted 1/2: ").append(counts(o.greedy())).append(")\n");
        txt.append(String.format(Locale.ROOT, "  sampled instead, the mean gold score of %d answers at temperature 1 per"
                + " prompt and policy: %.3f (%s)%n", Demo.EVAL_SAMPLES, o.sampled().winRate(), counts(o.sampled())));
        txt.append(line("mean KL to the reference (nats/sequence)", o.meanKl(), String.format(Locale.ROOT,
                "<= target %.1f", targetKl), t.klInBudget()));
        txt.append(String.format(Locale.ROOT, "%ngold score on held-out prompts: SFT %.3f, final %.3f (%d prompts,"
                + " greedy); sampled SFT %.3f, final %.3f%n", o.greedy().goldSft(), o.greedy().goldFinal(), prompts.size(),
                o.sampled().goldSft(), o.sampled().goldFinal()));
        txt.append(String.format(Locale.ROOT, "labels: %d pairwise choices; max KL of an iteration %.2f%n", o.labels(),
                o.maxKl()));
        txt.append("proxy reward per iteration: ").append(fmt(o.proxyReward())).append('\n');
        txt.append("gold reward per policy version: ").append(fmt(o.goldReward())).append('\n');
        txt.append("KL per iteration: ").append(fmt(o.kl())).append("\n\nsamples (prompt | SFT | final):\n");
        for (int i = 0; i < Math.min(6, prompts.size()); i++) {
            txt.append(String.format(Locale.ROOT, "  %s%n    SFT   (%.2f) %s%n    final (%.2f) %s%n", prompts.get(i),
                    gold.score(prompts.get(i), before.get(i)), before.get(i), gold.score(prompts.get(i), after.get(i)),
                    after.get(i)));
        }
        txt.append("\nstages:\n");
        log.forEach(l -> txt.append("  ").append(l).append('\n'));
        Files.writeString(o.results().resolve("report.txt"), txt);

        StringBuilder html = new StringBuilder("<!doctype html><meta charset=utf-8><title>RLHF demo</title>"
                + "<style>body{font:14px sans-serif;max-width:960px;margin:2em auto}td,th{padding:4px 10px;"
                + "border-bottom:1px solid #ddd;text-align:left}.ok{color:#080}.no{color:#b00}</style>"
                + "<h1>RLHF demo</h1><h2>Outcome targets</h2><table><tr><th>target</th><th>measured</th>"
                + "<th>required</th><th></th></tr>");
        html.append(row("reward model held-out accuracy", o.rmAccuracy(), String.format(Locale.ROOT,
                "&ge; %.3f (noise ceiling on its held-out pairs &minus; 0.05; on all pairs %.3f)",
                o.noiseCeiling() - 0.05, o.noiseCeilingAll()), t.rmNearCeiling()));
        html.append(row("win rate of the final policy over SFT (gold judge, greedy answers: " + counts(o.greedy())
                + ")", o.greedy().winRate(), "&ge; 0.70", t.winRate()));
        html.append(row("mean KL to the reference", o.meanKl(), String.format(Locale.ROOT, "&le; %.1f", targetKl),
                t.klInBudget()));
        html.append("</table>").append(String.format(Locale.ROOT, "<p>Sampled instead (the mean gold score of %d"
                + " answers at temperature 1 per prompt and policy): win rate %.3f (%s); gold SFT %.3f, final %.3f.</p>",
                Demo.EVAL_SAMPLES, o.sampled().winRate(), counts(o.sampled()), o.sampled().goldSft(),
                o.sampled().goldFinal()));
        html.append("<h2>Per PPO iteration</h2>");
        html.append(plot("proxy reward (reward-service)", o.proxyReward()));
        html.append(plot("gold reward (hidden judge) per policy version", o.goldReward()));
        html.append(plot("KL to the reference", o.kl()));
        html.append("<h2>Samples</h2><table><tr><th>prompt</th><th>SFT</th><th>final</th></tr>");
        for (int i = 0; i < Math.min(8, prompts.size()); i++) {
            html.append("<tr><td>").append(esc(prompts.get(i))).append("</td><td>").append(esc(before.get(i)))
                    .append(String.format(Locale.ROOT, " <small>(%.2f)</small>", gold.score(prompts.get(i),
                            before.get(i)))).append("</td><td>").append(esc(after.get(i)))
                    .append(String.format(Locale.ROOT, " <small>(%.2f)</small>", gold.score(prompts.get(i),
                            after.get(i)))).append("</td></tr>");
        }
        html.append("</table><h2>Stages</h2><pre>");
        log.forEach(l -> html.append(esc(l)).append('\n'));
        html.append("</pre>");
        Files.writeString(o.results().resolve("report.html"), html);
    }

    private static String line(String what, double value, String required, boolean met) {
        return String.format(Locale.ROOT, "%-52s %7.3f   required %-30s %s%n", what, value, required,
                met ? "MET" : "NOT MET");
    }

    private static String row(String what, double value, String required, boolean met) {
        return String.format(Locale.ROOT, "<tr><td>%s</td><td>%.3f</td><td>%s</td><td class=%s>%s</td></tr>", what,
                value, required, met ? "ok" : "no", met ? "met" : "not met");
    }

    /** A line plot of {@code ys} against their index, 480×160, with its range labelled. */
    static String plot(String title, List<Double> ys) {
        StringBuilder s = new StringBuilder("<h3>").append(esc(title)).append("</h3>");
        if (ys.isEmpty()) {
            return s.append("<p>no data</p>").toString();
        }
        double lo = ys.stream().mapToDouble(Double::doubleValue).min().orElse(0);
        double hi = ys.stream().mapToDouble(Double::doubleValue).max().orElse(1);
        double span = hi - lo < 1e-9 ? 1 : hi - lo;
        s.append("<svg width=520 height=180 viewBox='0 0 520 180'><rect x=30 y=10 width=480 height=160 fill=none"
                + " stroke=#ccc /><polyline fill=none stroke=#36c stroke-width=2 points='");
        for (int i = 0; i < ys.size(); i++) {
            double x = 30 + (ys.size() == 1 ? 240 : 480.0 * i / (ys.size() - 1));
            double y = 170 - 160 * (ys.get(i) - lo) / span;
            s.append(String.format(Locale.ROOT, "%.1f,%.1f ", x, y));
        }
        s.append(String.format(Locale.ROOT, "'/><text x=0 y=20 font-size=11>%.2f</text><text x=0 y=170 font-size=11>"
                + "%.2f</text></svg>", hi, lo));
        return s.toString();
    }

    private static String fmt(List<Double> xs) {
        return xs.stream().map(x -> String.format(Locale.ROOT, "%.3f", x)).toList().toString();
    }

    private static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }
}
