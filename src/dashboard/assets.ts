import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';

/**
 * The page's files, built by scripts/build-ui.mjs during `npm install`. Both
 * src/dashboard and dist/dashboard sit two levels below the package root.
 */
export const PUBLIC_DIR = path.resolve(__dirname, '..', '..', 'dist', 'dashboard', 'public');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

export interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer;
  etag: string;
}

/** The built files, read and compressed once, on the first request that needs them. */
export class Assets {
  private files: Map<string, Asset> | null = null;

  constructor(private readonly dir = PUBLIC_DIR) {}

  /** '/': index.html. Undefined for anything that is not a built file. */
  get(urlPath: string): Asset | undefined {
    this.files ??= this.load();
    return this.files.get(urlPath === '/' ? '/index.html' : urlPath);
  }

  private load(): Map<string, Asset> {
    const files = new Map<string, Asset>();
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return files;
    }
    for (const name of names) {
      const type = TYPES[path.extname(name)];
      if (!type) continue;
      const body = fs.readFileSync(path.join(this.dir, name));
      const etag = `"${createHash('sha1').update(body).digest('base64url').slice(0, 16)}"`;
      files.set(`/${name}`, { type, body, gzip: gzipSync(body, { level: 9 }), etag });
    }
    return files;
  }
}
