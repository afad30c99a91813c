/**
 * A first-in first-out queue over an array with a moving head: `shift` is
 * O(1) amortised, unlike `Array.prototype.shift`, which moves every element.
 */
export class Fifo<A> {
  private items: Array<A> = []
  private head = 0

  get size(): number {
    return this.items.length - this.head
  }

  push(item: A): void {
    this.items.push(item)
  }

  peek(): A | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined
  }

  shift(): A | undefined {
    if (this.head >= this.items.length) return undefined
    const item = this.items[this.head]!
    this.items[this.head++] = undefined as A
    // Compact once the dead prefix outweighs the live part, keeping memory proportional to the size.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return item
  }

  /** Removes and returns every item, oldest first. */
  takeAll(): Array<A> {
    const all = this.items.slice(this.head)
    this.items = []
    this.head = 0
    return all
  }
}
