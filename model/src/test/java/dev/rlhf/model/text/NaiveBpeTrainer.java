package dev.rlhf.model.text;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The test oracle of {@link BpeTrainer}: Sennrich et al. (2016), Algorithm 1, as written — every
 * step recounts all pairs over all words, takes the most frequent (ties: smaller left, then right
 * token string), and merges it everywhere.
 */
final class NaiveBpeTrainer {

    private NaiveBpeTrainer() {
    }

    static BpeTrainer.Result train(Map<String, Long> wordCounts, List<String> baseVocab, int vocabSize) {
        List<String> vocab = new ArrayList<>(baseVocab);
        List<List<String>> words = new ArrayList<>();
        List<Long> freq = new ArrayList<>();
        wordCounts.forEach((word, count) -> {
            List<String> symbols = new ArrayList<>();
            for (char c : word.toCharArray()) {
                symbols.add(String.valueOf(c));
            }
            words.add(symbols);
            freq.add(count);
        });
        List<BpeTrainer.Merge> merges = new ArrayList<>();
        while (vocab.size() < vocabSize) {
            Map<List<String>, Long> counts = new HashMap<>();
            for (int w = 0; w < words.size(); w++) {
                List<String> s = words.get(w);
                for (int i = 0; i + 1 < s.size(); i++) {
                    counts.merge(List.of(s.get(i), s.get(i + 1)), freq.get(w), Long::sum);
                }
            }
            List<String> best = null;
            long bestCount = 0;
            for (Map.Entry<List<String>, Long> e : counts.entrySet()) {
                List<String> p = e.getKey();
                long c = e.getValue();
                if (best == null || c > bestCount || (c == bestCount && (p.get(0).compareTo(best.get(0)) < 0
                        || p.get(0).equals(best.get(0)) && p.get(1).compareTo(best.get(1)) < 0))) {
                    best = p;
                    bestCount = c;
                }
            }
            if (best == null) {
                break;
            }
            merges.add(new BpeTrainer.Merge(best.get(0), best.get(1)));
            String merged = best.get(0) + best.get(1);
            if (!vocab.contains(merged)) {
                vocab.add(merged);
            }
            for (List<String> s : words) {
                apply(s, best.get(0), best.get(1));
            }
        }
        return new BpeTrainer.Result(vocab, merges);
    }

    /** The tokens of a byte-level word after applying {@code merges} in order (training's segmentation). */
    static List<String> segment(String word, List<BpeTrainer.Merge> merges) {
        List<String> s = new ArrayList<>(Arrays.asList(word.split("")));
        for (BpeTrainer.Merge m : merges) {
            apply(s, m.left(), m.right());
        }
        return s;
    }

    /** Replaces every non-overlapping (left, right), left to right, by left + right. */
    private static void apply(List<String> s, String left, String right) {
        for (int i = 0; i + 1 < s.size(); i++) {
            if (s.get(i).equals(left) && s.get(i + 1).equals(right)) {
                s.set(i, left + right);
                s.remove(i + 1);
            }
        }
    }
}
