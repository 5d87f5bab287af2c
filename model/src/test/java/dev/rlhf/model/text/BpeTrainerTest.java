package dev.rlhf.model.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

class BpeTrainerTest {

    private static final List<String> LETTERS = List.of("d", "e", "i", "l", "n", "o", "r", "s", "t", "w");

    @Test
    void sennrichExampleMergesEsThenEst() {
        // Sennrich et al. 2016, Fig. 1 vocabulary (without the </w> marker)
        Map<String, Long> words = Map.of("low", 5L, "lower", 2L, "newest", 6L, "widest", 3L);
        BpeTrainer.Result r = BpeTrainer.train(words, LETTERS, LETTERS.size() + 2);
        // e·s and s·t both occur 9 times: the tie goes to the smaller left token, "e"
        assertEquals(List.of(new BpeTrainer.Merge("e", "s"), new BpeTrainer.Merge("es", "t")), r.merges());
        assertEquals(List.of("es", "est"), r.vocab().subList(LETTERS.size(), r.vocab().size()));
    }

    @Test
    void stopsWhenEveryWordIsOneToken() {
        BpeTrainer.Result r = BpeTrainer.train(Map.of("low", 1L, "lo", 1L), LETTERS, 1000);
        assertEquals(List.of(new BpeTrainer.Merge("l", "o"), new BpeTrainer.Merge("lo", "w")), r.merges());
        assertEquals(LETTERS.size() + 2, r.vocab().size());
    }

    @Test
    void mergeIsLeftToRightWithoutOverlap() {
        assertArrayEquals(new int[] {9, 1}, BpeTrainer.merge(new int[] {1, 1, 1}, 1, 1, 9));
        assertArrayEquals(new int[] {9, 9}, BpeTrainer.merge(new int[] {1, 1, 1, 1}, 1, 1, 9));
        assertArrayEquals(new int[] {0, 9, 2, 9}, BpeTrainer.merge(new int[] {0, 1, 2, 2, 1, 2}, 1, 2, 9));
        int[] untouched = {3, 4};
        assertSame(untouched, BpeTrainer.merge(untouched, 1, 2, 9));
    }

    @Test
    void incrementalCountsGiveTheNaiveAlgorithmsMerges() {
        Map<String, Long> words = DefaultTokenizer.wordCounts(TextFixtures.CORPUS);
        List<String> base = DefaultTokenizer.baseVocab();
        for (int vocabSize : new int[] {262, 263, 300, 400, 10_000}) {
            BpeTrainer.Result fast = BpeTrainer.train(words, base, vocabSize);
            BpeTrainer.Result naive = NaiveBpeTrainer.train(words, base, vocabSize);
            assertEquals(naive.merges(), fast.merges(), "vocabSize " + vocabSize);
            assertEquals(naive.vocab(), fast.vocab(), "vocabSize " + vocabSize);
            assertTrue(fast.vocab().size() <= vocabSize);
        }
    }

    @Test
    void resultDoesNotDependOnWordOrder() {
        Map<String, Long> words = DefaultTokenizer.wordCounts(TextFixtures.CORPUS);
        List<String> base = DefaultTokenizer.baseVocab();
        assertEquals(BpeTrainer.train(words, base, 350), BpeTrainer.train(new TreeMap<>(words), base, 350));
    }
}
