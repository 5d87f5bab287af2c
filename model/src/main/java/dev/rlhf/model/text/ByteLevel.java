package dev.rlhf.model.text;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * GPT-2's byte-level alphabet (Radford et al. 2019, {@code bytes_to_unicode} in
 * {@code encoder.py}), as Hugging Face's {@code ByteLevel} pre-tokenizer and decoder use it:
 * each of the 256 byte values is written as one printable character, so every UTF-8 text is
 * a string over 256 symbols and round-trips exactly.
 *
 * <p>Internal to {@link DefaultTokenizer}: the Rust tokenizer does the real encoding; this copy
 * only has to agree with it on which symbols a corpus word is made of.
 */
final class ByteLevel {

    /**
     * GPT-2's pre-tokenizer split (Hugging Face {@code ByteLevel} with {@code use_regex: true}):
     * contractions, letter runs, digit runs and punctuation runs, each with at most one leading
     * space, and whitespace runs. Unicode classes, as the Oniguruma original.
     */
    static final Pattern GPT2_SPLIT = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
            Pattern.UNICODE_CHARACTER_CLASS);

    /** [256] the character that stands for byte value b (0..255). */
    private static final char[] BYTE_TO_CHAR = bytesToUnicode();

    private ByteLevel() {
    }

    /**
     * GPT-2's {@code bytes_to_unicode}: the printable bytes {@code !..~}, {@code ¡..¬} and
     * {@code ®..ÿ} stand for themselves; the other 68 bytes, in increasing order, take the
     * characters U+0100, U+0101, ... (so space, 0x20, is {@code Ġ} U+0120 and newline {@code Ċ}).
     */
    private static char[] bytesToUnicode() {
        char[] map = new char[256];
        boolean[] printable = new boolean[256];
        for (int b = '!'; b <= '~'; b++) {
            printable[b] = true;
        }
        for (int b = 0xA1; b <= 0xAC; b++) {
            printable[b] = true;
        }
        for (int b = 0xAE; b <= 0xFF; b++) {
            printable[b] = true;
        }
        int next = 0;
        for (int b = 0; b < 256; b++) {
            map[b] = printable[b] ? (char) b : (char) (256 + next++);
        }
        return map;
    }

    /** The character that stands for byte value {@code b} (0..255). */
    static char charOf(int b) {
        return BYTE_TO_CHAR[b];
    }

    /** The byte-level string of {@code text}'s UTF-8 bytes: one character per byte. */
    static String encode(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        char[] out = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            out[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
        }
        return new String(out);
    }

    /**
     * The words the {@code ByteLevel} pre-tokenizer ({@code add_prefix_space: false}) makes of
     * {@code text}: GPT-2 split, then each piece in the byte-level alphabet.
     */
    static List<String> preTokenize(String text) {
        List<String> words = new ArrayList<>();
        Matcher m = GPT2_SPLIT.matcher(text);
        while (m.find()) {
            words.add(encode(m.group()));
        }
        return words;
    }
}
