package dev.rlhf.model.text;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;

/**
 * Byte-pair encoding merges learned by the algorithm of Sennrich, Haddow &amp; Birch, "Neural
 * Machine Translation of Rare Words with Subword Units" (ACL 2016), Algorithm 1: count the
 * adjacent symbol pairs over the corpus words (weighted by word frequency), merge the most
 * frequent pair into a new symbol everywhere, repeat.
 *
 * <p>Ties go to the pair whose left, then right, token string is smaller
 * ({@link String#compareTo}), so the result depends on the corpus only, not on map order.
 * Merges are applied left to right without overlap within a word, as in the paper.
 *
 * <p>This version keeps pair counts incrementally (only the words that contain the merged pair
 * are recounted); {@code NaiveBpeTrainer} in the tests recounts everything each step and is
 * its oracle.
 */
final class BpeTrainer {

    /** One learned merge: the two token strings whose concatenation becomes a token. */
    record Merge(String left, String right) {
    }

    /**
     * @param vocab  token strings by id: the base vocabulary, then one per new merged token
     * @param merges merges in the order learned (= priority when encoding)
     */
    record Result(List<String> vocab, List<Merge> merges) {
    }

    /** A pair with the count it had when queued; stale when the count has changed since. */
    private record Candidate(long pair, long count) {
    }

    private BpeTrainer() {
    }

    /**
     * Learns merges until the vocabulary holds {@code vocabSize} tokens or no adjacent pair is
     * left (every corpus word is a single token).
     *
     * @param wordCounts corpus words (each character one base token of {@code baseVocab}) and
     *                   how often each occurs
     * @param baseVocab  the initial tokens by id; must hold every character of every word
     * @param vocabSize  the most tokens the result may hold, at least {@code baseVocab.size()}
     */
    static Result train(Map<String, Long> wordCounts, List<String> baseVocab, int vocabSize) {
        List<String> vocab = new ArrayList<>(baseVocab);
        Map<String, Integer> ids = new HashMap<>();
        for (int i = 0; i < vocab.size(); i++) {
            ids.putIfAbsent(vocab.get(i), i);
        }
        // 1. words as symbol ids; freq[w] = occurrences of word w
        int[][] words = new int[wordCounts.size()][];
        long[] freq = new long[words.length];
        int w = 0;
        for (Map.Entry<String, Long> e : wordCounts.entrySet()) {
            words[w] = symbols(e.getKey(), ids);
            freq[w++] = e.getValue();
        }
        // 2. pair counts and, per pair, the words that (may) contain it
        Map<Long, Long> counts = new HashMap<>();
        Map<Long, Set<Integer>> where = new HashMap<>();
        for (w = 0; w < words.length; w++) {
            addPairs(words[w], freq[w], w, counts, where, null);
        }
        Comparator<Candidate> order = Comparator.comparingLong(Candidate::count).reversed()
                .thenComparing(c -> vocab.get(left(c.pair())))
                .thenComparing(c -> vocab.get(right(c.pair())));
        PriorityQueue<Candidate> queue = new PriorityQueue<>(order);
        counts.forEach((pair, count) -> queue.add(new Candidate(pair, count)));

        List<Merge> merges = new ArrayList<>();
        while (vocab.size() < vocabSize) {
            // 3. the most frequent pair (skipping queue entries whose count went stale)
            Candidate best = queue.poll();
            while (best != null && counts.getOrDefault(best.pair(), 0L) != best.count()) {
                best = queue.poll();
            }
            if (best == null) {
                break;
            }
            int a = left(best.pair());
            int b = right(best.pair());
            String merged = vocab.get(a) + vocab.get(b);
            Integer z = ids.get(merged);
            if (z == null) {
                z = vocab.size();
                vocab.add(merged);
                ids.put(merged, z);
            }
            merges.add(new Merge(vocab.get(a), vocab.get(b)));
            // 4. merge it in every word that holds it, recounting only those words
            Set<Long> changed = new HashSet<>();
            for (int v : where.remove(best.pair())) {
                int[] merged1 = merge(words[v], a, b, z);
                if (merged1.length == words[v].length) {
                    continue; // stale membership: the word lost this pair in an earlier merge
                }
                removePairs(words[v], freq[v], counts, changed);
                words[v] = merged1;
                addPairs(words[v], freq[v], v, counts, where, changed);
            }
            // 5. requeue every pair whose count moved
            for (long pair : changed) {
                long count = counts.getOrDefault(pair, 0L);
                if (count > 0) {
                    queue.add(new Candidate(pair, count));
                }
            }
        }
        return new Result(List.copyOf(vocab), List.copyOf(merges));
    }

    /** [len] the base-token ids of {@code word}'s characters. */
    private static int[] symbols(String word, Map<String, Integer> ids) {
        int[] s = new int[word.length()];
        for (int i = 0; i < s.length; i++) {
            Integer id = ids.get(String.valueOf(word.charAt(i)));
            if (id == null) {
                throw new IllegalArgumentException("corpus word \"" + word + "\" holds the character U+"
                        + String.format("%04X", (int) word.charAt(i)) + ", which is not a base token;"
                        + " pass words in the byte-level alphabet");
            }
            s[i] = id;
        }
        return s;
    }

    /** {@code s} with every non-overlapping (a, b), left to right, replaced by z. */
    static int[] merge(int[] s, int a, int b, int z) {
        int[] out = new int[s.length];
        int j = 0;
        for (int i = 0; i < s.length; ) {
            if (i + 1 < s.length && s[i] == a && s[i + 1] == b) {
                out[j++] = z;
                i += 2;
            } else {
                out[j++] = s[i++];
            }
        }
        return j == s.length ? s : Arrays.copyOf(out, j);
    }

    private static void addPairs(int[] s, long f, int w, Map<Long, Long> counts, Map<Long, Set<Integer>> where,
            Set<Long> changed) {
        for (int i = 0; i + 1 < s.length; i++) {
            long pair = pair(s[i], s[i + 1]);
            counts.merge(pair, f, Long::sum);
            where.computeIfAbsent(pair, k -> new HashSet<>()).add(w);
            if (changed != null) {
                changed.add(pair);
            }
        }
    }

    private static void removePairs(int[] s, long f, Map<Long, Long> counts, Set<Long> changed) {
        for (int i = 0; i + 1 < s.length; i++) {
            long pair = pair(s[i], s[i + 1]);
            long left = counts.get(pair) - f;
            if (left == 0) {
                counts.remove(pair);
            } else {
                counts.put(pair, left);
            }
            changed.add(pair);
        }
    }

    private static long pair(int a, int b) {
        return ((long) a << 32) | (b & 0xFFFF_FFFFL);
    }

    private static int left(long pair) {
        return (int) (pair >>> 32);
    }

    private static int right(long pair) {
        return (int) pair;
    }
}
