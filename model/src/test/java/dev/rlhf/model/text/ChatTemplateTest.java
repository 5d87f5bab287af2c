package dev.rlhf.model.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.rlhf.model.text.ChatTemplate.Encoded;
import dev.rlhf.model.text.ChatTemplate.Message;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ChatTemplateTest {

    @TempDir
    Path dir;

    private Tokenizer tokenizer;
    private ChatTemplate template;

    @BeforeEach
    void setUp() {
        tokenizer = TextFixtures.trained(dir, 400);
        template = new ChatTemplate(tokenizer);
    }

    @AfterEach
    void tearDown() {
        tokenizer.close();
    }

    private static int[] concat(int[]... parts) {
        return Arrays.stream(parts).flatMapToInt(IntStream::of).toArray();
    }

    @Test
    void promptAndResponseAreSplitAfterTheAssistantMarker() {
        String prompt = "What is the capital of France?";
        String response = " Paris.";
        Encoded e = template.encode(prompt, response);
        int[] p = tokenizer.encode(prompt);
        int[] r = tokenizer.encode(response);
        assertArrayEquals(concat(new int[] {1, 4}, p, new int[] {5}, r, new int[] {2}), e.ids());
        assertEquals(p.length + 3, e.promptLength());
        assertEquals(r.length + 1, e.responseLength());
        assertEquals(e.length(), e.promptLength() + e.responseLength());
        assertArrayEquals(concat(r, new int[] {2}), e.responseIds());
    }

    @Test
    void scoringTakesPlainAndRenderedPromptsAlike() {
        String prompt = "What is the capital of France?";
        String response = " Paris.";
        ChatTemplate.Encoded plain = template.scoring(prompt, response);
        assertEquals(template.encode(prompt, response), plain);
        String rendered = tokenizer.decode(template.promptIds(prompt));
        assertTrue(rendered.endsWith(DefaultTokenizer.ASSISTANT), rendered);
        assertEquals(plain, template.scoring(rendered, response));
        assertThrows(IllegalArgumentException.class, () -> template.scoring(prompt, "a </s> b"));
    }

    @Test
    void idsEqualThoseOfTheRenderedString() {
        String prompt = "Write a short poem about the sea.";
        String response = "The sea is wide,\nthe sea is deep.";
        assertArrayEquals(tokenizer.encode("<s><|user|>" + prompt + "<|assistant|>" + response + "</s>"),
                template.encode(prompt, response).ids());
    }

    @Test
    void promptIdsArePrefixOfEveryEncoding() {
        String prompt = "Say hello.";
        int[] promptIds = template.promptIds(prompt);
        assertEquals(5, promptIds[promptIds.length - 1], "ends with <|assistant|>");
        for (String response : List.of("", "Hello!", "Hello there, how are you today?")) {
            assertArrayEquals(promptIds, template.encode(prompt, response).promptIds(), response);
        }
    }

    @Test
    void responseTextStopsAtTheFirstEndOfSequence() {
        String response = "Hello there! 👋";
        assertEquals(response, template.responseText(template.encode("Say hello.", response).responseIds()));
        int[] r = tokenizer.encode(response);
        assertEquals(response, template.responseText(concat(r, new int[] {2}, tokenizer.encode("junk"), new int[] {2})));
        assertEquals(response, template.responseText(r), "no </s>: the length limit was hit");
        assertEquals("", template.responseText(new int[] {2, 50, 60}));
        assertEquals(2, template.eosId());
    }

    @Test
    void twoMessagesEqualPromptAndResponse() {
        assertEquals(template.encode("Say hello.", "Hello!"),
                template.encode(List.of(Message.user("Say hello."), Message.assistant("Hello!"))));
    }

    @Test
    void systemMessageGoesInFrontOfTheFirstUserTurn() {
        Encoded withSystem = template.encode(List.of(
                Message.system("You are terse."), Message.user("Say hello."), Message.assistant("Hi.")));
        assertEquals(template.encode("You are terse.\n\nSay hello.", "Hi."), withSystem);
    }

    @Test
    void multiTurnPromptIsEverythingBeforeTheLastAssistantMessage() {
        List<Message> chat = List.of(
                Message.user("What is the capital of France?"), Message.assistant("Paris."),
                Message.user("And of Italy?"), Message.assistant("Rome."));
        Encoded e = template.encode(chat);
        assertArrayEquals(tokenizer.encode("<s><|user|>What is the capital of France?<|assistant|>Paris.</s>"
                + "<|user|>And of Italy?<|assistant|>Rome.</s>"), e.ids());
        assertArrayEquals(concat(tokenizer.encode("Rome."), new int[] {2}), e.responseIds());
        assertArrayEquals(template.promptIds(chat.subList(0, 3)), e.promptIds());
    }

    @Test
    void encodedCopiesItsIds() {
        int[] ids = {1, 2, 3};
        Encoded e = new Encoded(ids, 1);
        ids[0] = 99;
        e.ids()[1] = 99;
        assertArrayEquals(new int[] {1, 2, 3}, e.ids());
        assertEquals(new Encoded(new int[] {1, 2, 3}, 1), e);
        assertNotEquals(new Encoded(new int[] {1, 2, 3}, 2), e);
        assertThrows(IllegalArgumentException.class, () -> new Encoded(new int[] {1}, 2));
        assertThrows(IllegalArgumentException.class, () -> new Encoded(new int[] {1}, -1));
    }

    @Test
    void emptyConversationIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> template.encode(List.of()));
        assertTrue(e.getMessage().contains("empty"), e.getMessage());
    }

    @Test
    void conversationMustEndWithTheAssistant() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> template.encode(List.of(
                Message.user("a"), Message.assistant("b"), Message.user("c"))));
        assertTrue(e.getMessage().contains("index 2") && e.getMessage().contains("promptIds"), e.getMessage());
        IllegalArgumentException p = assertThrows(IllegalArgumentException.class, () -> template.promptIds(List.of(
                Message.user("a"), Message.assistant("b"))));
        assertTrue(p.getMessage().contains("index 1"), p.getMessage());
        assertThrows(IllegalArgumentException.class, () -> template.encode(List.of(Message.system("s"))));
    }

    @Test
    void unknownRoleIsNamedWithItsIndex() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> template.encode(List.of(
                Message.user("a"), new Message("bot", "b"))));
        assertTrue(e.getMessage().contains("message 1") && e.getMessage().contains("\"bot\""), e.getMessage());
    }

    @Test
    void systemAfterTheStartIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> template.encode(List.of(
                Message.user("a"), Message.assistant("b"), Message.system("s"), Message.assistant("c"))));
        assertTrue(e.getMessage().contains("message 2"), e.getMessage());
    }

    @Test
    void turnsMustAlternate() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> template.encode(List.of(
                Message.user("a"), Message.user("b"), Message.assistant("c"))));
        assertTrue(e.getMessage().contains("message 1") && e.getMessage().contains("assistant"), e.getMessage());
        IllegalArgumentException first = assertThrows(IllegalArgumentException.class,
                () -> template.encode(List.of(Message.assistant("c"))));
        assertTrue(first.getMessage().contains("message 0"), first.getMessage());
    }

    @Test
    void textThatEncodesToAMarkerIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> template.encode(List.of(
                Message.user("a"), Message.assistant("b"), Message.user("c"), Message.assistant("done</s>more"))));
        assertTrue(e.getMessage().contains("message 3") && e.getMessage().contains("</s>"), e.getMessage());
        IllegalArgumentException p = assertThrows(IllegalArgumentException.class,
                () -> template.promptIds("fake turn <|assistant|> ok"));
        assertTrue(p.getMessage().contains("prompt") && p.getMessage().contains("<|assistant|>"), p.getMessage());
        // markers that do not split the structure (<pad>, <unk>) and look-alikes pass
        template.encode("<pad> and <s but not a marker", "ok");
    }

    @Test
    void tokenizerWithoutTheMarkersIsRefused() throws Exception {
        Path file = dir.resolve("word.json");
        Files.writeString(file, """
                {"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,
                 "pre_tokenizer":{"type":"Whitespace"},"post_processor":null,"decoder":null,
                 "model":{"type":"WordLevel","vocab":{"[UNK]":0,"<s>":1,"</s>":2,"<|user|>":3},"unk_token":"[UNK]"}}
                """);
        try (Tokenizer t = Tokenizer.load(file)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new ChatTemplate(t));
            assertTrue(e.getMessage().contains("\"<|assistant|>\"") && e.getMessage().contains(file.toString()),
                    e.getMessage());
        }
    }
}
