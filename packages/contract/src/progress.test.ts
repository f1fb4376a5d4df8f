import { describe, expect, it } from 'vitest';
import { uploadPercent } from './progress.js';

describe('uploadPercent', () => {
  it('is 0 while nothing is recorded, and 100 only once every byte is uploaded', () => {
    expect(uploadPercent(0, 0)).toBe(0);
    expect(uploadPercent(0, 1000)).toBe(0);
    expect(uploadPercent(250, 1000)).toBe(25);
    expect(uploadPercent(999_999, 1_000_000)).toBe(99.9);
    expect(uploadPercent(1000, 1000)).toBe(100);
    // Never above 100 (totals read at different moments).
    expect(uploadPercent(1200, 1000)).toBe(100);
  });
});
