package dev.rlhf.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;

import org.junit.jupiter.api.Test;

/** What part of a sample's text a stream may send before the sample ends. */
class StreamTextTest {

    @Test
    void plainTextIsSentWhole() {
        assertEquals(5, PolicyGrpcService.safeEnd("hello", List.of()));
    }

    @Test
    void anIncompleteUtf8CharacterIsHeldBack() {
        assertEquals(2, PolicyGrpcService.safeEnd("ab\uFFFD", List.of()));
        assertEquals(2, PolicyGrpcService.safeEnd("ab\uFFFD\uFFFD", List.of()));
    }

    @Test
    void aTailThatCouldStartAStopStringIsHeldBack() {
        assertEquals(6, PolicyGrpcService.safeEnd("Hello wor", List.of("world!")));
        assertEquals(9, PolicyGrpcService.safeEnd("Hello wox", List.of("world!")));
        // the longest possible start over all stop strings
        assertEquals(3, PolicyGrpcService.safeEnd("abcXYZ", List.of("Z!", "XYZW")));
    }

    @Test
    void textFromAStopStringOnIsNeverSent() {
        assertEquals(4, PolicyGrpcService.safeEnd("abc STOP def", List.of("STOP")));
        assertEquals(2, PolicyGrpcService.safeEnd("a END b STOP", List.of("STOP", "END")));
    }
}
