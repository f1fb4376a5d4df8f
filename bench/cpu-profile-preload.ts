// A preload that profiles the main thread of the process it is loaded into, for the benchmarks'
// `--worker-env NODE_OPTIONS=--import=./bench/dist/cpu-profile-preload.js` (Node 20 does not allow
// `--cpu-prof` in NODE_OPTIONS). The profile is written when the process exits, to
// RECFLEET_CPU_PROFILE_DIR (default: the working directory) as `<pid>.cpuprofile`; read it with
// `node bench/dist/cpu-profile-summary.js <file>`. The recorder's own threads are native: not in it.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const session = new Session();
session.connect();
session.post('Profiler.enable');
// 1 ms: fine enough for a minute's window, small enough not to cost the process what it measures.
session.post('Profiler.setSamplingInterval', { interval: 1000 });
session.post('Profiler.start');
process.on('exit', () => {
  // An in-thread session answers synchronously, so the profile is written before the process ends.
  session.post('Profiler.stop', (err, result) => {
    if (err) return;
    const dir = process.env.RECFLEET_CPU_PROFILE_DIR ?? process.cwd();
    writeFileSync(join(dir, `${process.pid}.cpuprofile`), JSON.stringify(result.profile));
  });
});
