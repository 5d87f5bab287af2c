// An independent client: Node.js + @grpc/grpc-js, loading the published .proto files. Generate, stream and
// score against the policy-service of `bin/rlhf up`: node policy.mjs ../../proto/src/main/proto
import grpc from '@grpc/grpc-js';
import loader from '@grpc/proto-loader';
const protoDir = process.argv[2];
const def = loader.loadSync('rlhf/v1/policy.proto', { includeDirs: [protoDir], longs: String, defaults: true, keepCase: true });
const rlhf = grpc.loadPackageDefinition(def).rlhf.v1;
const client = new rlhf.PolicyService('127.0.0.1:8081', grpc.credentials.createInsecure());
const prompt = '<s><|user|>What is 2 plus 5?<|assistant|>';
const deadline = () => new Date(Date.now() + 20000);
client.ListModels({}, { deadline: deadline() }, (e, r) => {
  if (e) throw e;
  console.log('models:', r.models.map(m => `${m.model.name} v${m.model.version}`).join(', '));
  client.Generate({ prompt_text: prompt, sampling: { max_new_tokens: 24 } }, { deadline: deadline() }, (e2, g) => {
    if (e2) throw e2;
    const s = g.samples[0];
    console.log('generate:', JSON.stringify(s.text), s.finish_reason, 'tokens', s.token_ids.length);
    const chunks = [];
    const call = client.GenerateStream({ prompt_text: prompt, sampling: { max_new_tokens: 24 } }, { deadline: deadline() });
    call.on('data', c => chunks.push(c));
    call.on('error', err => { throw err; });
    call.on('end', () => {
      const ids = chunks.flatMap(c => c.token_ids);
      console.log('stream:', chunks.length, 'chunks, same tokens as unary:', JSON.stringify(ids) === JSON.stringify(s.token_ids));
      client.ScoreLogprobs({ items: [{ prompt_text: prompt, response_token_ids: { ids: s.token_ids } }] },
        { deadline: deadline() }, (e3, sc) => {
          if (e3) throw e3;
          const diff = Math.max(...sc.results[0].logprobs.map((l, i) => Math.abs(l - s.logprobs[i])));
          console.log('score: max |generate logprob - score logprob| =', diff.toExponential(2));
          process.exit(0);
        });
    });
  });
});
