package dev.rlhf.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bin/rlhf demo --quick} end to end (the same {@link Demo} the command runs, on the
 * packaged services): the gold judge's reward goes up from SFT to the final policy, the
 * reward model is clearly above chance, and the report is written.
 */
class DemoQuickTest {

    private static final Path ROOT = Path.of(System.getProperty("rlhf.root", ".."));

    @TempDir
    Path tmp;

    @Test
    void quickDemoImprovesTheGoldRewardWithARewardModelAboveChance() throws Exception {
        Demo.Outcome o = new Demo(ROOT, tmp, Demo.QUICK, 7).run(false);
        System.out.println(Files.readString(tmp.resolve("report.txt")));
        assertTrue(o.rmAccuracy() > 0.6, "reward model held-out accuracy " + o.rmAccuracy());
        assertTrue(o.greedy().goldFinal() > o.greedy().goldSft(), "gold reward SFT " + o.greedy().goldSft()
                + " -> final " + o.greedy().goldFinal());
        assertTrue(o.sampled().goldFinal() > o.sampled().goldSft(), "gold reward of sampled answers SFT "
                + o.sampled().goldSft() + " -> final " + o.sampled().goldFinal());
        assertEquals(Demo.QUICK.ppoIterations(), o.proxyReward().size());
        assertTrue(Files.readString(tmp.resolve("report.html")).contains("<svg"));
    }
}
