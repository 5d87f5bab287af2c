package dev.rlhf.model.text;

import java.nio.file.Path;
import java.util.List;

/** A small corpus in the style of the bundled task, and tokenizers trained on it. */
final class TextFixtures {

    /** Prompts and responses: repeated words, punctuation, digits, accents, newlines. */
    static final List<String> CORPUS = List.of(
            "What is the capital of France?",
            "The capital of France is Paris.",
            "What is the capital of Italy?",
            "The capital of Italy is Rome.",
            "Write a short poem about the sea.",
            "The sea is wide, the sea is deep,\nthe sea will sing the world to sleep.",
            "How many legs does a spider have?",
            "A spider has 8 legs; an insect has 6 legs.",
            "Summarise: the cat sat on the mat and the dog sat on the log.",
            "The cat and the dog sat on the mat and the log.",
            "Translate to French: the cheese is good.",
            "Le fromage est très bon, merci beaucoup!",
            "It's 2024 and we're testing the tokenizer's merges.",
            "Say hello.",
            "Hello! Hello there, how are you today?");

    private TextFixtures() {
    }

    /** Writes a tokenizer learned from {@link #CORPUS} to {@code dir/tokenizer.json} and loads it. */
    static Tokenizer trained(Path dir, int vocabSize) {
        Path file = dir.resolve("tokenizer.json");
        DefaultTokenizer.write(file, CORPUS, vocabSize);
        return Tokenizer.load(file);
    }
}
