/**
 * The upload percentage of a recording, one definition for the worker's progress events, the job's
 * progress, the API, the CLI and the dashboards: the share of recorded bytes verified in the primary
 * store, rounded down to a tenth of a percent. 0 while nothing has been recorded, so a recording never
 * reads as 100 % uploaded before its first segment exists.
 */
export function uploadPercent(bytesUploaded: number, bytesTotal: number): number {
  return bytesTotal === 0 ? 0 : Math.floor((bytesUploaded / bytesTotal) * 1000) / 10;
}
