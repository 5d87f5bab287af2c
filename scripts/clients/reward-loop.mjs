// The reward loop end to end against `bin/rlhf up`, as an outside client: an SFT job → 240 pairwise
// judgements through the gateway's REST API → rlhf.preferences.v1 (normaliser) → a reward-model job through
// SubmitJob → reward-service serves the announced version. Needs kcat (to count the preferences).
// node reward-loop.mjs ../../proto/src/main/proto "$PWD/../.." "$(cat ../../.rlhf/api-key)"
import grpc from '@grpc/grpc-js';
import loader from '@grpc/proto-loader';
import { execSync } from 'node:child_process';
const [protoDir, root, key] = process.argv.slice(2);
const load = f => grpc.loadPackageDefinition(loader.loadSync(f, { includeDirs: [protoDir], longs: Number, defaults: true, keepCase: true, enums: String })).rlhf.v1;
const trainer = new (load('rlhf/v1/trainer.proto').TrainerService)('127.0.0.1:8084', grpc.credentials.createInsecure());
const reward = new (load('rlhf/v1/reward.proto').RewardService)('127.0.0.1:8082', grpc.credentials.createInsecure());
const call = (c, m, req) => new Promise((ok, no) => c[m](req, { deadline: new Date(Date.now() + 30000) }, (e, r) => e ? no(e) : ok(r)));
const wait = async id => { for (;;) { const j = await call(trainer, 'GetJob', { job_id: id });
  if (['JOB_STATE_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED'].includes(j.state)) return j;
  await new Promise(r => setTimeout(r, 2000)); } };
const t0 = Date.now();
const sft = await wait((await call(trainer, 'SubmitJob', { kind: 'JOB_KIND_SFT', client_request_id: 'e2e-sft-' + t0,
  sft: { data: { path: root + '/data/sft-demo.jsonl' }, epochs: 3, batch_size: 16, optimizer: { learning_rate: 3e-3, warmup_steps: 5 } } })).job_id);
console.log('SFT:', sft.state, sft.error, sft.produced_models.map(m => `${m.name} v${m.version}`).join(', '));
// 240 pairwise judgements through the gateway's public REST API (helpful ≻ off-topic)
const events = [];
for (let i = 0; i < 240; i++) {
  events.push({ type: 'pairwise', user_id: 'labeler-' + (i % 3), pairwise: { prompt: `What is ${i} plus 1?`,
    responses: [{ response_id: 'a', text: `${i} plus 1 is ${i + 1}.` }, { response_id: 'b', text: 'I like hats.' }],
    chosen_response_id: 'a' } });
}
const body = JSON.stringify({ events });
const res = execSync(`curl -s -o /dev/null -w '%{http_code}' -XPOST localhost:8080/v1/feedback/batch -H 'Authorization: Bearer ${key}' -H 'Content-Type: application/json' -H 'Idempotency-Key: e2e-${t0}' --data-binary @-`, { input: body }).toString();
console.log('gateway batch:', res);
await new Promise(r => setTimeout(r, 5000));
const prefs = execSync(`kcat -b 127.0.0.1:9092 -t rlhf.preferences.v1 -C -e -q -f 'x\\n' | wc -l`).toString().trim();
console.log('preferences on rlhf.preferences.v1:', prefs);
const policy = sft.produced_models.find(m => m.name === 'policy');
const rm = await wait((await call(trainer, 'SubmitJob', { kind: 'JOB_KIND_REWARD_MODEL', client_request_id: 'e2e-rm-' + t0,
  reward_model: { init_from: policy, ensemble_size: 2, bootstrap: true, reward_l2_coef: 0.01, epochs: 2, batch_size: 16,
    validation_fraction: 0.2, optimizer: { learning_rate: 1e-3 } } })).job_id);
console.log('RM:', rm.state, rm.error, rm.produced_models.map(m => `${m.name} v${m.version}`).join(', '),
  'val accuracy', rm.metrics['rm.validation_accuracy']);
const version = rm.produced_models[0].version;
for (let i = 0; i < 30; i++) {
  const s = await call(reward, 'Score', { pairs: [{ prompt: 'What is 1000 plus 1?', response: '1000 plus 1 is 1001.' },
    { prompt: 'What is 1000 plus 1?', response: 'I like hats.' }] }).catch(e => ({ error: e.message }));
  const served = s.models ? s.models.map(m => `${m.name} v${m.version}`).join(', ') : s.error;
  if (s.models && s.models.some(m => m.name === 'reward' && m.version === version)) {
    console.log('reward-service serves', served, '; totals', s.scores.map(x => x.total.toFixed(3)).join(' vs '),
      'components', JSON.stringify(s.scores[0].components.map(c => [c.name, +c.value.toFixed(3), +c.uncertainty.toFixed(3)])));
    console.log('elapsed', ((Date.now() - t0) / 1000).toFixed(0), 's');
    process.exit(0);
  }
  await new Promise(r => setTimeout(r, 1000));
}
console.log('reward-service never served reward v' + version);
process.exit(1);
