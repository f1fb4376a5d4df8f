import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { StorageError, type PutBody, type StorageAdapter, type StoredObject } from './storage-adapter.js';

/**
 * Local disk (or any mounted filesystem): the embedded default. Writes are atomic — a temporary file in
 * the same directory, fsync'd, renamed over the key, then the directory fsync'd — so a reader (or a
 * crash) never sees half an object under its final name.
 */
export class LocalDiskStorage implements StorageAdapter {
  readonly kind = 'local';
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  private pathOf(key: string): string {
    const path = resolve(this.root, key);
    if (path !== this.root && !path.startsWith(this.root + sep)) {
      throw new StorageError('STORAGE_REFUSED', `key ${JSON.stringify(key)} escapes the storage root`);
    }
    return path;
  }

  locate(key: string): string {
    return this.pathOf(key);
  }

  async put(key: string, body: PutBody): Promise<StoredObject> {
    const path = this.pathOf(key);
    const tmp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
    try {
      await mkdir(dirname(path), { recursive: true });
      const md5 = createHash('md5');
      let bytes = 0;
      const fh = await open(tmp, 'w', 0o644);
      try {
        if (body.data) {
          md5.update(body.data);
          bytes = body.data.length;
          await fh.writeFile(body.data);
        } else if (body.filePath) {
          for await (const chunk of createReadStream(body.filePath)) {
            const buf = chunk as Buffer;
            md5.update(buf);
            bytes += buf.length;
            await fh.write(buf);
          }
        } else {
          throw new StorageError('STORAGE_REFUSED', 'put needs filePath or data');
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
      await fsyncDir(dirname(path));
      const expected = md5.digest('hex');
      const stored = await this.head(key);
      if (!stored || stored.bytes !== bytes || stored.md5 !== expected) {
        throw new StorageError('STORAGE_INTEGRITY', `stored ${key} does not match what was written`);
      }
      return stored;
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      if (err instanceof StorageError) throw err;
      const e = err as NodeJS.ErrnoException;
      // ENOSPC and EIO may pass (space freed, disk remounted); permissions and bad paths will not.
      const passing = e.code === 'ENOSPC' || e.code === 'EIO' || e.code === 'EMFILE' || e.code === 'EBUSY';
      throw new StorageError(
        passing ? 'STORAGE_WRITE_FAILED' : 'STORAGE_REFUSED',
        `local put ${key}: ${e.message}`,
        {
          cause: err,
        },
      );
    }
  }

  async head(key: string): Promise<StoredObject | undefined> {
    const path = this.pathOf(key);
    try {
      const st = await stat(path);
      if (!st.isFile()) return undefined;
      const md5 = createHash('md5')
        .update(await readFile(path))
        .digest('hex');
      return { key, bytes: st.size, md5 };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const entry of entries) {
        const full = join(dir, entry.name);
        if (entry.isDirectory()) await walk(full);
        else if (entry.isFile() && !entry.name.includes('.tmp-')) {
          const key = relative(this.root, full).split(sep).join('/');
          if (key.startsWith(prefix)) out.push({ key, bytes: (await stat(full)).size });
        }
      }
    };
    await walk(this.root);
    return out.sort((a, b) => a.key.localeCompare(b.key));
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.pathOf(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new StorageError('STORAGE_WRITE_FAILED', `local get ${key}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
