package dev.rlhf.model.text;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ByteLevelTest {

    @Test
    void bytesToUnicodeIsGpt2sBijection() {
        Set<Character> seen = new HashSet<>();
        for (int b = 0; b < 256; b++) {
            char c = ByteLevel.charOf(b);
            assertTrue(seen.add(c), "byte " + b + " shares its character " + c);
            assertTrue(c < 256 + 68, "byte " + b + " maps past U+0143: " + (int) c);
        }
        assertEquals('A', ByteLevel.charOf('A'));
        assertEquals('~', ByteLevel.charOf('~'));
        assertEquals('é', ByteLevel.charOf(0xE9));
        assertEquals('\u0100', ByteLevel.charOf(0)); // first non-printable byte
        assertEquals('\u010A', ByteLevel.charOf('\n')); // Ċ
        assertEquals('\u0120', ByteLevel.charOf(' ')); // Ġ
        assertEquals('\u0143', ByteLevel.charOf(0xAD)); // soft hyphen: the 68th, last
    }

    @Test
    void encodeWritesOneCharacterPerUtf8Byte() {
        String text = "é 👋";
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        String encoded = ByteLevel.encode(text);
        assertEquals(bytes.length, encoded.length());
        for (int i = 0; i < bytes.length; i++) {
            assertEquals(ByteLevel.charOf(bytes[i] & 0xFF), encoded.charAt(i));
        }
    }

    @Test
    void gpt2SplitKeepsOneLeadingSpaceAndContractions() {
        assertEquals(List.of("Hello", " world", "'s", " ", " test", "!!", " 42", "\n"),
                ByteLevel.GPT2_SPLIT.matcher("Hello world's  test!! 42\n").results().map(r -> r.group()).toList());
    }

    @Test
    void preTokenizedWordsCoverTheWholeText() {
        for (String text : List.of("", " a", "a  b\n\n c", "tab\there", "x😀y", "It's 3.14, isn't it?  ", "日本語 テキスト")) {
            assertEquals(ByteLevel.encode(text), String.join("", ByteLevel.preTokenize(text)), text);
        }
    }
}
