/**
 * The live files of a generated table (table-generator.ts) as a pair of
 * Int32Arrays of file ids: O(1) add, remove and uniform pick, a few bytes a
 * file, so a table of millions of files is generated in bounded memory.
 */
import { InternalError } from '../errors/index.ts';

export class LiveSet {
  ids = new Int32Array(1024);
  count = 0;
  position = new Int32Array(1024).fill(-1);

  add(id: number): void {
    if (this.count === this.ids.length) this.ids = grow(this.ids, this.ids.length * 2, 0);
    if (id >= this.position.length) this.position = grow(this.position, Math.max(id + 1, this.position.length * 2), -1);
    this.ids[this.count] = id;
    this.position[id] = this.count++;
  }

  remove(id: number): void {
    const at = this.position[id] ?? -1;
    if (at < 0) throw new InternalError(`generator: file ${id} is not live`);
    const last = this.ids[--this.count] as number;
    this.ids[at] = last;
    this.position[last] = at;
    this.position[id] = -1;
  }

  pick(random: () => number): number {
    return this.ids[Math.floor(random() * this.count)] as number;
  }
}

function grow(array: Int32Array, size: number, fill: number): Int32Array<ArrayBuffer> {
  const grown = new Int32Array(size).fill(fill);
  grown.set(array);
  return grown;
}
