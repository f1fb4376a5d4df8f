import { spawnSync } from 'node:child_process';
import { say, shown } from './demo-stack.js';

/** What `ffmpeg -v error -i <playlist> -f null -` said: clean means exit 0 and not one error line. */
export interface PlaylistCheck {
  clean: boolean;
  errors: string;
}

/** Reads the whole playlist, every segment decoded, as a player would. */
export function checkPlaylist(playlist: string): PlaylistCheck {
  const r = spawnSync('ffmpeg', ['-nostdin', '-v', 'error', '-i', playlist, '-f', 'null', '-'], {
    encoding: 'utf8',
  });
  const errors = (r.stderr ?? '').trim() || (r.error ? r.error.message : '');
  return { clean: r.status === 0 && errors === '', errors };
}

/** Prints how to play and check one playlist, checks it and prints the result; true when clean. */
export function reportPlaylist(playlist: string, indent = '  '): boolean {
  const path = shown(playlist);
  say(`${indent}play it   ffplay ${path}`);
  say(`${indent}check it  ffmpeg -v error -i ${path} -f null -`);
  const check = checkPlaylist(playlist);
  if (check.clean) say(`${indent}verified  ffmpeg read the whole playlist without a single error`);
  else say(`${indent}WARNING   ffmpeg reported:\n${check.errors || '(no output, but it failed)'}`);
  return check.clean;
}
