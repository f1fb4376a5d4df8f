/**
 * How much of a recording is in its primary store, as every reader shows it (the worker's progress, the
 * API, the CLI, the dashboards): the share of the recorded bytes verified there, 0–100 with one decimal,
 * rounded down so that 100 means all of it. 0 while nothing is recorded yet: an empty recording has
 * nothing uploaded, not everything.
 */
export function uploadPercent(bytesUploaded: number, bytesTotal: number): number {
  if (!(bytesTotal > 0) || !(bytesUploaded > 0)) return 0;
  return Math.min(100, Math.floor((bytesUploaded / bytesTotal) * 1000) / 10);
}
