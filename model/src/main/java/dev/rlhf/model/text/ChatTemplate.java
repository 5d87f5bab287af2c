package dev.rlhf.model.text;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.OptionalInt;

/**
 * Turns a conversation into token ids with explicit turn markers and an end of sequence, and
 * splits them into the prompt (what the policy is conditioned on) and the response (what it
 * generated, what the reward model scores, what PPO/DPO losses sum over):
 * <pre>
 *   &lt;s&gt;&lt;|user|&gt;{prompt}&lt;|assistant|&gt; | {response}&lt;/s&gt;
 *   └──────────── promptLength ids ──────────┘ └──── the rest ────┘
 * </pre>
 * Multi-turn: {@code <s>[<|user|>{u}<|assistant|>{a}</s>]*<|user|>{u}<|assistant|>}{a}{@code </s>};
 * a system message becomes {@code "{system}\n\n"} in front of the first user turn. The marker
 * ids come from the tokenizer ({@link DefaultTokenizer#SPECIAL_TOKENS}); the texts between
 * them are encoded by {@link Tokenizer#encode}, so the ids equal those of the whole rendered
 * string.
 *
 * <p>A message text that itself encodes to a marker (say it contains {@code "</s>"}) is
 * refused: it would end or restructure the conversation. Immutable and thread-safe; it does
 * not own the tokenizer (close that yourself).
 */
public final class ChatTemplate {

    /** Role of a user turn. */
    public static final String USER = "user";
    /** Role of an assistant turn. */
    public static final String ASSISTANT = "assistant";
    /** Role of the optional first message that instructs the assistant. */
    public static final String SYSTEM = "system";

    /**
     * One message of a conversation.
     *
     * @param role    {@value #USER}, {@value #ASSISTANT} or {@value #SYSTEM} (checked by
     *                {@link ChatTemplate#encode(List)}, which names the message's index)
     * @param content the text; may be empty
     */
    public record Message(String role, String content) {

        /** Refuses nulls. */
        public Message {
            Objects.requireNonNull(role, "role");
            Objects.requireNonNull(content, "content");
        }

        /** A user message. */
        public static Message user(String content) {
            return new Message(USER, content);
        }

        /** An assistant message. */
        public static Message assistant(String content) {
            return new Message(ASSISTANT, content);
        }

        /** A system message (only as the first message). */
        public static Message system(String content) {
            return new Message(SYSTEM, content);
        }
    }

    /**
     * A conversation as token ids, split into prompt and response.
     *
     * @param ids          [T] token ids: prompt (through the last {@code <|assistant|>}), then
     *                     the response including its final {@code </s>}; copied in and out
     * @param promptLength P, the number of leading ids that are the prompt, 0 ≤ P ≤ T
     */
    public record Encoded(int[] ids, int promptLength) {

        /** Copies {@code ids}; checks {@code 0 ≤ promptLength ≤ ids.length}. */
        public Encoded {
            ids = Objects.requireNonNull(ids, "ids").clone();
            if (promptLength < 0 || promptLength > ids.length) {
                throw new IllegalArgumentException("promptLength " + promptLength + " is outside [0, "
                        + ids.length + "], the number of ids");
            }
        }

        /** [T] a copy of all ids. */
        @Override
        public int[] ids() {
            return ids.clone();
        }

        /** T, the number of ids. */
        public int length() {
            return ids.length;
        }

        /** T − P, the number of response ids (the final {@code </s>} included). */
        public int responseLength() {
            return ids.length - promptLength;
        }

        /** [P] a copy of the prompt ids. */
        public int[] promptIds() {
            return Arrays.copyOf(ids, promptLength);
        }

        /** [T − P] a copy of the response ids. */
        public int[] responseIds() {
            return Arrays.copyOfRange(ids, promptLength, ids.length);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Encoded e && promptLength == e.promptLength && Arrays.equals(ids, e.ids);
        }

        @Override
        public int hashCode() {
            return 31 * Arrays.hashCode(ids) + promptLength;
        }

        @Override
        public String toString() {
            return "Encoded[promptLength=" + promptLength + ", ids=" + Arrays.toString(ids) + "]";
        }
    }

    private final Tokenizer tokenizer;
    private final int bos;
    private final int eos;
    private final int user;
    private final int assistant;

    /**
     * @param tokenizer where the marker ids and the text ids come from
     * @throws IllegalArgumentException naming the first marker the tokenizer lacks
     */
    public ChatTemplate(Tokenizer tokenizer) {
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
        this.bos = markerId(tokenizer, DefaultTokenizer.BOS);
        this.eos = markerId(tokenizer, DefaultTokenizer.EOS);
        this.user = markerId(tokenizer, DefaultTokenizer.USER);
        this.assistant = markerId(tokenizer, DefaultTokenizer.ASSISTANT);
    }

    private static int markerId(Tokenizer tokenizer, String marker) {
        OptionalInt id = tokenizer.tokenId(marker);
        if (id.isEmpty()) {
            throw new IllegalArgumentException("tokenizer " + tokenizer.source() + " lacks the chat marker \""
                    + marker + "\"; use a tokenizer written by DefaultTokenizer.write, or add "
                    + DefaultTokenizer.SPECIAL_TOKENS + " to its added_tokens");
        }
        return id.getAsInt();
    }

    /**
     * {@code <s><|user|>{prompt}<|assistant|>{response}</s>}, split after {@code <|assistant|>}.
     *
     * @throws IllegalArgumentException if prompt or response encodes to a marker
     */
    public Encoded encode(String prompt, String response) {
        Ids ids = new Ids();
        ids.add(bos).add(user).add(text(prompt, "the prompt")).add(assistant);
        int promptLength = ids.size();
        ids.add(text(response, "the response")).add(eos);
        return new Encoded(ids.toArray(), promptLength);
    }

    /**
     * What a reward model scores for (prompt, response), in training and in serving alike:
     * {@link #encode(String, String)} for a plain user prompt; a prompt already rendered by
     * this template (it ends with {@code <|assistant|>}, as policies are prompted, and as
     * interactions log it) is tokenized as it is, then the response and {@code </s>}.
     *
     * @throws IllegalArgumentException if the response (or a plain prompt) encodes to a marker
     */
    public Encoded scoring(String prompt, String response) {
        if (!prompt.endsWith(DefaultTokenizer.ASSISTANT)) {
            return encode(prompt, response);
        }
        Ids ids = new Ids().add(tokenizer.encode(prompt));
        int promptLength = ids.size();
        ids.add(text(response, "the response")).add(eos);
        return new Encoded(ids.toArray(), promptLength);
    }

    /**
     * A conversation {@code [system] user assistant (user assistant)*}: everything before the
     * last assistant message (and its {@code <|assistant|>}) is the prompt, the last assistant
     * message and its {@code </s>} the response. {@code [user p, assistant r]} gives the same
     * as {@link #encode(String, String) encode(p, r)}.
     *
     * @throws IllegalArgumentException naming the message index: empty list, unknown role,
     *                                  system not first, turns not alternating, last message
     *                                  not from the assistant, text that encodes to a marker
     */
    public Encoded encode(List<Message> messages) {
        int last = checkConversation(messages, ASSISTANT, "a conversation to encode must end with the"
                + " assistant's response; use promptIds(messages) for a prompt to generate from");
        Ids ids = render(messages, last);
        int promptLength = ids.size();
        ids.add(text(messages.get(last).content(), "message " + last + " (assistant)")).add(eos);
        return new Encoded(ids.toArray(), promptLength);
    }

    /**
     * The prompt to generate from: {@code <s><|user|>{prompt}<|assistant|>}.
     *
     * @return [P] token ids ending with {@code <|assistant|>}
     */
    public int[] promptIds(String prompt) {
        return new Ids().add(bos).add(user).add(text(prompt, "the prompt")).add(assistant).toArray();
    }

    /**
     * The prompt to generate the next assistant turn of a conversation that ends with a user
     * message ({@code [system] user (assistant user)*}).
     *
     * @return [P] token ids ending with {@code <|assistant|>}
     * @throws IllegalArgumentException naming the message index, as {@link #encode(List)}
     */
    public int[] promptIds(List<Message> messages) {
        int last = checkConversation(messages, USER, "a prompt to generate from must end with a user"
                + " message; use encode(messages) for a conversation with its response");
        return render(messages, last + 1).toArray();
    }

    /**
     * The text of a generated response: {@code generated} decoded up to, not including, the
     * first {@code </s>} (all of it when there is none, e.g. the length limit was hit).
     *
     * @param generated [n] the ids generated after {@link #promptIds} (not the prompt)
     */
    public String responseText(int[] generated) {
        Objects.requireNonNull(generated, "generated");
        int end = 0;
        while (end < generated.length && generated[end] != eos) {
            end++;
        }
        return tokenizer.decode(Arrays.copyOf(generated, end));
    }

    /** The id of {@code </s>}: generation stops when it is sampled. */
    public int eosId() {
        return eos;
    }

    /** The tokenizer this template encodes with (not owned: closing it is the caller's job). */
    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /**
     * Checks the grammar {@code [system] user assistant user ...} and that the last message has
     * role {@code lastRole}; returns the index of the last message.
     */
    private static int checkConversation(List<Message> messages, String lastRole, String lastHint) {
        Objects.requireNonNull(messages, "messages");
        if (messages.isEmpty()) {
            throw new IllegalArgumentException("messages are empty; pass at least a user message"
                    + (ASSISTANT.equals(lastRole) ? " and the assistant's response" : ""));
        }
        String expected = USER;
        for (int i = 0; i < messages.size(); i++) {
            Message m = messages.get(i);
            if (m == null) {
                throw new IllegalArgumentException("message " + i + " is null");
            }
            String role = m.role();
            if (!role.equals(USER) && !role.equals(ASSISTANT) && !role.equals(SYSTEM)) {
                throw new IllegalArgumentException("message " + i + " has unknown role \"" + role + "\"; use \""
                        + USER + "\", \"" + ASSISTANT + "\" or \"" + SYSTEM + "\"");
            }
            if (role.equals(SYSTEM)) {
                if (i != 0) {
                    throw new IllegalArgumentException("message " + i + " has role system; a system message"
                            + " may only be the first (index 0)");
                }
                continue;
            }
            if (!role.equals(expected)) {
                throw new IllegalArgumentException("message " + i + " has role " + role + " where a " + expected
                        + " message must come; turns alternate user, assistant, user, ...");
            }
            expected = role.equals(USER) ? ASSISTANT : USER;
        }
        int last = messages.size() - 1;
        if (!messages.get(last).role().equals(lastRole)) {
            throw new IllegalArgumentException("the last message (index " + last + ") has role "
                    + messages.get(last).role() + "; " + lastHint);
        }
        return last;
    }

    /**
     * {@code <s>} and the turns {@code messages[0, end)}, with {@code <|assistant|>} (but not
     * {@code </s>}) after the last one when it is a user turn.
     */
    private Ids render(List<Message> messages, int end) {
        Ids ids = new Ids().add(bos);
        String system = null;
        for (int i = 0; i < end; i++) {
            Message m = messages.get(i);
            String where = "message " + i + " (" + m.role() + ")";
            switch (m.role()) {
                case SYSTEM -> system = m.content();
                case USER -> {
                    String content = system == null ? m.content() : system + "\n\n" + m.content();
                    system = null;
                    ids.add(user).add(text(content, where)).add(assistant);
                }
                default -> ids.add(text(m.content(), where)).add(eos);
            }
        }
        return ids;
    }

    /** The ids of a message text; refuses text that encodes to a marker. */
    private int[] text(String content, String where) {
        Objects.requireNonNull(content, where);
        int[] ids = tokenizer.encode(content);
        for (int id : ids) {
            String marker = id == bos ? DefaultTokenizer.BOS : id == eos ? DefaultTokenizer.EOS
                    : id == user ? DefaultTokenizer.USER : id == assistant ? DefaultTokenizer.ASSISTANT : null;
            if (marker != null) {
                throw new IllegalArgumentException(where + " contains \"" + marker + "\", which encodes to the"
                        + " marker token " + id + " and would break the conversation's structure; remove or"
                        + " escape it");
            }
        }
        return ids;
    }

    /** A growable int[]. */
    private static final class Ids {
        private int[] a = new int[64];
        private int n;

        Ids add(int id) {
            if (n == a.length) {
                a = Arrays.copyOf(a, 2 * n);
            }
            a[n++] = id;
            return this;
        }

        Ids add(int[] ids) {
            for (int id : ids) {
                add(id);
            }
            return this;
        }

        int size() {
            return n;
        }

        int[] toArray() {
            return Arrays.copyOf(a, n);
        }
    }
}
