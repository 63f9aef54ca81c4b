// Continuous batching over the paged KV pool. Each step: admit waiting requests whose
// tokens fit in free blocks (FIFO by arrival, so none starves), then decode every running
// sequence as ONE native forward pass. A sequence's tokens are its prompt followed by what
// it generated; each step feeds the first one not yet in its cache, and samples only from
// the row of its newest token. A prompt whose mode is iterative is prefilled in parallel
// (the LCKV plan) between decode steps, at most PREFILL_STEP_TOKENS per step, in chunks
// when the plan has no cyclic group (chunks are exact there), so a long prompt does not
// stall running decodes; a prompt in sequential mode instead rides along the decode steps
// token by token, with values identical to a sequential prefill (rows are batch-invariant).
// When blocks run out mid-decode the newest running sequence is preempted: its blocks are
// freed and it waits again, in arrival order. On return its prompt is prefilled as before
// and its generated tokens are rebuilt exactly: in one parallel pass when the plan has no
// cyclic group (each row is computed as alone), else riding along the decode steps, so its
// output does not change. Sampling and stops live in the jobs (lib/engine/jobs.ts).
import { LckvError, fromNative } from '../errors';
import type { NativeAddon, NativeModel, NativeSequence } from '../native';
import { TimeSlice } from '../time-slice';

/** Native prefill settings: mode 0 auto | 1 iterative | 2 sequential; passes 0 = the config's. */
export interface PrefillSpec {
  mode: number;
  passes: number;
}

/** A unit of work for the scheduler. */
export interface Job {
  readonly prompt: readonly number[];
  readonly prefill: PrefillSpec;
  /** Scoring: one prefill returning the logits of every position; no decode. */
  readonly scoring: boolean;
  /**
   * Scoring the likelihood of each position's next token (-1: none): the prefill returns
   * their negative log-likelihoods ([prompt], Float64Array) instead of logits.
   */
  readonly targets?: Int32Array;
  /** Tokens generated so far; the last is the next decode input. */
  readonly generated: readonly number[];
  /** Most positions its sequence can ever hold (prompt and every token it may generate). */
  readonly positionsBound: number;
  /** Logits of the newest position ([vocab]; [prompt, vocab] when scoring; see targets). Returns false when done. */
  accept(out: Float32Array | Float64Array): boolean;
  fail(err: LckvError): void;
}

export interface EngineStats {
  kvBlocksUsed: number;
  kvBlocksTotal: number;
  /** Positions per KV block. */
  kvBlockTokens: number;
  kvBytesTotal: number;
  /** Sequences being prefilled or decoded. */
  running: number;
  waiting: number;
  preemptions: number;
  tokensGenerated: number;
  /** tokensGenerated over the time the engine has been busy. */
  tokensPerSecond: number;
}

interface Entry {
  readonly job: Job;
  readonly id: number;  // arrival order
  readonly seq: NativeSequence;
  /** Whether its prompt rides along the decode steps (sequential prefill), decided at submission. */
  readonly ridesAlong: boolean;
}

/**
 * How requests are admitted to the KV pool. 'optimistic': when the blocks for their prompt
 * are free now; sequences that later outgrow the pool are preempted and recomputed (most
 * sequences at once). 'reserve': only while every admitted sequence could grow to its
 * positionsBound without any preemption (fewer at once, no recomputation).
 */
export const ADMISSION_POLICIES = ['optimistic', 'reserve'] as const;
export type AdmissionPolicy = (typeof ADMISSION_POLICIES)[number];

/** The native prefill mode that runs token by token (lib/options.ts PREFILL_MODES). */
const SEQUENTIAL = 2;

/**
 * Prompt tokens prefilled per scheduler step (at least one whole chunk) before the running
 * sequences decode again; also the chunk size of plans without cyclic groups. An LCKV plan
 * prefills a prompt in one piece: its iterative passes run over all prompt tokens together.
 */
const PREFILL_STEP_TOKENS = 256;

/**
 * Sampling runs on the JavaScript thread, one row per sequence after each step: without
 * top-k a row of a 128k vocabulary takes milliseconds, so 32 rows would hold the event loop
 * for over 100 ms. After this long the rows left wait for the next turn of the event loop.
 */
const SAMPLING_SLICE_MS = 5;

export class Scheduler {
  private readonly waiting: Entry[] = [];  // sorted by id
  private readonly prefilling: Entry[] = [];  // admitted, prompt not fully in the cache; by arrival
  private readonly running: Entry[] = [];  // decoding
  private readonly live = new Map<Job, Entry>();  // waiting, prefilling or running
  private nextId = 0;
  private looping = false;
  private preemptions = 0;
  private tokensGenerated = 0;
  private busyMs = 0;
  /** The decode steps' logits buffer, grown to the largest step: jobs read their row before the next step. */
  private logitsBuffer?: Float32Array;

  /** With cyclic groups only token-by-token steps rebuild generated tokens exactly. */
  private readonly cyclic: boolean;

  constructor(
    private readonly model: NativeModel,
    private readonly maxBatch: number,
    /** The addon that made `model` (CPU or CUDA): its sequences and batches must come from it too. */
    private readonly addon: NativeAddon,
    private readonly admission: AdmissionPolicy = 'optimistic',
  ) {
    this.cyclic = model.plan().steps.some((s) => s.cyclic);
  }

  /** Positions the whole pool holds. */
  get capacity(): number {
    const kv = this.model.kvStats();
    return kv.blocksTotal * kv.blockTokens;
  }

  /** Queues a job; throws KV_BUDGET_EXCEEDED when it could never fit in the whole pool. */
  submit(job: Job): void {
    const positions = job.prompt.length + (job.scoring ? 0 : 1);
    if (positions > this.capacity)
      throw new LckvError(
        'KV_BUDGET_EXCEEDED',
        `${positions} positions (prompt${job.scoring ? '' : ' + 1 token'}) exceed the KV cache of ${this.capacity} positions (kvCache.bytes / kvCache.tokens)`,
      );
    // Everything asked of the model happens here: once submitted, a job needs only its own
    // sequence, so it runs to its end even if the model is disposed while it waits.
    let seq: NativeSequence;
    let ridesAlong: boolean;
    try {
      ridesAlong = !job.scoring && this.model.resolvePrefill(job.prefill.mode, job.prompt.length) === SEQUENTIAL;
      seq = new (this.addon.NativeSequence)(this.model);
    } catch (err) {
      throw fromNative(err);
    }
    const entry: Entry = { job, id: this.nextId++, seq, ridesAlong };
    this.live.set(job, entry);
    this.waiting.push(entry);
    this.kick();
  }

  /** Drops a job wherever it is; its blocks are freed now (a native step in flight lets go when it ends). */
  cancel(job: Job): void {
    const e = this.live.get(job);
    if (!e) return;
    e.seq.cancel();
    this.finish(e);
  }

  stats(): EngineStats {
    const kv = this.model.kvStats();
    return {
      kvBlocksUsed: kv.blocksUsed,
      kvBlocksTotal: kv.blocksTotal,
      kvBlockTokens: kv.blockTokens,
      kvBytesTotal: kv.bytesTotal,
      running: this.live.size - this.waiting.length,
      waiting: this.waiting.length,
      preemptions: this.preemptions,
      tokensGenerated: this.tokensGenerated,
      tokensPerSecond: this.busyMs > 0 ? (this.tokensGenerated * 1000) / this.busyMs : 0,
    };
  }

  private kick(): void {
    if (this.looping) return;
    this.looping = true;
    void this.loop();
  }

  private async loop(): Promise<void> {
    try {
      while (this.waiting.length > 0 || this.prefilling.length > 0 || this.running.length > 0) {
        const t0 = performance.now();
        this.admit();
        await this.prefill();
        await this.decode();
        this.busyMs += performance.now() - t0;
      }
    } finally {
      this.looping = false;
    }
  }

  private freeBlocks(): number {
    const kv = this.model.kvStats();
    return kv.blocksTotal - kv.blocksUsed;
  }

  private blocksFor(positions: number): number {
    return Math.ceil(positions / this.model.kvStats().blockTokens);
  }

  /** Running sequences whose next decode starts a new block. */
  private decodeNeeds(): number {
    const bt = this.model.kvStats().blockTokens;
    return this.running.filter((e) => e.seq.blocks * bt < e.seq.length + 1).length;
  }

  /** Sequences holding blocks and a batch row: prefilling or decoding. */
  private active(): number {
    return this.prefilling.length + this.running.length;
  }

  /** Admits waiting requests in arrival order while their blocks fit; takes the blocks now. */
  private admit(): void {
    while (this.waiting.length > 0 && this.active() < this.maxBatch) {
      const e = this.waiting[0];
      const { job } = e;
      const positions = job.prompt.length + job.generated.length + (job.scoring ? 0 : 1);
      const need = this.blocksFor(positions);
      if (need > this.freeBlocks() - this.decodeNeeds() || !this.reservationFits(job)) {
        if (this.active() > 0) return;  // room comes back as running sequences end
        this.finish(e);  // cannot happen with an empty pool unless it never fits; never wait forever
        job.fail(new LckvError('KV_BUDGET_EXCEEDED', `the request needs ${need} KV blocks; the pool has ${this.freeBlocks()} free`));
        continue;
      }
      this.waiting.shift();
      try {
        e.seq.reserve(positions);
        (e.ridesAlong ? this.running : this.prefilling).push(e);
      } catch (err) {
        this.finish(e);
        job.fail(fromNative(err));
      }
    }
  }

  /** Under 'reserve': whether the pool holds every active sequence and `job` at their bounds. */
  private reservationFits(job: Job): boolean {
    if (this.admission !== 'reserve' || this.active() === 0) return true;  // alone, a job stops at the pool's end
    const total = this.model.kvStats().blocksTotal;
    const bound = (j: Job) => Math.min(this.blocksFor(j.positionsBound), total);
    let reserved = bound(job);
    for (const e of [...this.prefilling, ...this.running]) reserved += bound(e.job);
    return reserved <= total;
  }

  /** Prefills admitted prompts in arrival order, about PREFILL_STEP_TOKENS tokens' worth. */
  private async prefill(): Promise<void> {
    let budget = PREFILL_STEP_TOKENS;
    while (budget > 0 && this.prefilling.length > 0) budget -= await this.prefillChunk(this.prefilling[0]);
  }

  /**
   * Tokens prefilled in parallel before e decodes: its prompt; on a plan without cyclic
   * groups also the generated tokens older than the newest (after a preemption), since rows
   * there are exact in any pass. With cyclic groups those ride along the decode steps.
   */
  private prefillTarget(job: Job): number {
    return job.prompt.length + (this.cyclic ? 0 : Math.max(0, job.generated.length - 1));
  }

  /** Runs the next chunk of e's prefill; returns its token count. Moves e on when the prefill is done. */
  private async prefillChunk(e: Entry): Promise<number> {
    const { job } = e;
    const done = e.seq.length;
    const target = this.prefillTarget(job);
    const end = job.scoring || this.cyclic ? target : Math.min(target, done + PREFILL_STEP_TOKENS);
    const tokens = [...job.prompt, ...job.generated].slice(done, end);
    let logits: Float32Array | Float64Array;
    try {
      const ids = Int32Array.from(tokens);
      const { mode, passes } = job.prefill;
      logits = job.targets ? await e.seq.score(ids, mode, passes, job.targets) : await e.seq.run(ids, mode, passes, job.scoring);
    } catch (err) {
      if (this.live.has(job)) {
        this.finish(e);
        job.fail(fromNative(err));
      }
      return end - done;
    }
    if (!this.live.has(job) || end < target) return end - done;  // cancelled, or more to come
    this.prefilling.splice(this.prefilling.indexOf(e), 1);
    if (job.scoring) {
      this.finish(e);
      job.accept(logits);
      return end - done;
    }
    this.running.push(e);
    if (job.generated.length === 0) {
      this.tokensGenerated++;
      if (!job.accept(logits)) this.finish(e);
    }  // else resumed: the decode steps feed its newest token
    return end - done;
  }

  private async decode(): Promise<void> {
    while (this.running.length > 0 && this.decodeNeeds() > this.freeBlocks()) {
      if (this.active() === 1) {
        // A lone sequence never outgrows the pool (jobs stop at its capacity); report, never spin.
        const e = this.running[0];
        this.finish(e);
        e.job.fail(new LckvError('KV_BUDGET_EXCEEDED', 'the KV cache is full'));
        break;
      }
      this.preempt();
    }
    if (this.running.length === 0) return;
    const batch = [...this.running];
    const tokens = new Int32Array(batch.length);
    const wanted = new Uint8Array(batch.length);
    batch.forEach((e, i) => {
      const { prompt, generated } = e.job;
      const at = e.seq.length;  // the first of the sequence's tokens not in its cache yet
      tokens[i] = at < prompt.length ? prompt[at] : generated[at - prompt.length];
      wanted[i] = at === prompt.length + generated.length - 1 ? 1 : 0;
    });
    let logits: Float32Array;
    try {
      logits = await this.addon.decodeBatch(
        batch.map((e) => e.seq),
        tokens,
        wanted,
        this.logitsBuffer,
      );
      if (logits.buffer !== this.logitsBuffer?.buffer) this.logitsBuffer = new Float32Array(logits.buffer);
    } catch (err) {
      for (const e of batch)
        if (this.live.has(e.job)) {
          this.finish(e);
          e.job.fail(fromNative(err));
        }
      return;
    }
    const rows = wanted.reduce((a, b) => a + b, 0);
    const vocab = rows > 0 ? logits.length / rows : 0;
    let row = 0;
    const slice = new TimeSlice(SAMPLING_SLICE_MS);
    for (let i = 0; i < batch.length; i++) {
      if (!wanted[i]) continue;
      const own = logits.subarray(row * vocab, (row + 1) * vocab);
      row++;
      await slice.pause();
      const e = batch[i];
      if (!this.live.has(e.job)) continue;  // cancelled during the step (or a yield)
      this.tokensGenerated++;
      if (!e.job.accept(own)) this.finish(e);
    }
  }

  /** Frees the newest admitted sequence's blocks (decoding or prefilling) and queues it again in arrival order. */
  private preempt(): void {
    const e = [...this.running, ...this.prefilling].reduce((a, b) => (b.id > a.id ? b : a));
    const list = this.running.includes(e) ? this.running : this.prefilling;
    list.splice(list.indexOf(e), 1);
    e.seq.reset();
    const at = this.waiting.findIndex((w) => w.id > e.id);
    this.waiting.splice(at < 0 ? this.waiting.length : at, 0, e);
    this.preemptions++;
  }

  private finish(e: Entry): void {
    this.live.delete(e.job);
    for (const list of [this.waiting, this.prefilling, this.running]) {
      const at = list.indexOf(e);
      if (at >= 0) list.splice(at, 1);
    }
    e.seq.release();
  }
}
