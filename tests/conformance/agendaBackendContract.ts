/**
 * The agenda job backend contract: what agenda 6 expects of a backend's JobRepository, and what
 * its job processor then does with it (locking, next-run computation, concurrency). Every job
 * backend we use runs this suite: SQLite (tests/unit/agendaSqliteBackend.test.ts) always,
 * @agendajs/mongo-backend when MONGODB_URI is set (tests/conformance/agendaBackend.test.ts).
 *
 * agenda's own shared suite (`agenda/testing`) is declared in its package.json but not shipped in
 * the npm package, so this one checks the same behaviours in our words. Each test gets a fresh,
 * empty store.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agenda, type AgendaBackend, type Job, type JobParameters, type JobRepository } from 'agenda';

export type AgendaBackendFixture = {
  backend: AgendaBackend;
  /** Another backend instance on the same store (another connection), as a second worker would have. */
  another(): AgendaBackend;
  cleanup(): Promise<void>;
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

const job = (overrides: Partial<JobParameters> = {}): JobParameters => ({
  name: 'job',
  priority: 0,
  nextRunAt: new Date(),
  type: 'normal',
  data: {},
  ...overrides,
});

const minutes = (n: number) => new Date(Date.now() + n * 60_000);

export function agendaBackendContract(label: string, open: () => Promise<AgendaBackendFixture>): void {
  describe(`agenda backend contract: ${label}`, () => {
    let fixture: AgendaBackendFixture;
    let repo: JobRepository;
    const agendas: Agenda[] = [];

    /** An agenda on the fixture's backend (or another connection), stopped after the test. */
    async function agendaOn(backend = fixture.backend, options: Partial<ConstructorParameters<typeof Agenda>[0]> = {}) {
      const agenda = new Agenda({ backend, processEvery: 100, ...options });
      agendas.push(agenda);
      await agenda.ready;
      return agenda;
    }

    beforeEach(async () => {
      fixture = await open();
      await fixture.backend.connect();
      repo = fixture.backend.repository;
    });

    afterEach(async () => {
      for (const agenda of agendas.splice(0)) await agenda.stop(false).catch(() => {});
      await fixture.cleanup();
    });

    describe('the repository', () => {
      it('saves a new job with an id and reads it back', async () => {
        const saved = await repo.saveJob(job({ name: 'save', priority: 10, data: { foo: 'bar' } }), undefined);
        expect(saved._id).toBeTruthy();
        expect(saved).toMatchObject({ name: 'save', priority: 10, type: 'normal', data: { foo: 'bar' } });
        const read = await repo.getJobById(String(saved._id));
        expect(read).toMatchObject({ _id: saved._id, name: 'save', data: { foo: 'bar' } });
        expect(read!.nextRunAt).toBeInstanceOf(Date);
      });

      it('updates a job saved with its id, and returns it unchanged when it was removed', async () => {
        const saved = await repo.saveJob(job({ data: { version: 1 } }), undefined);
        const updated = await repo.saveJob({ ...saved, priority: 20, data: { version: 2 } }, undefined);
        expect(updated._id).toBe(saved._id);
        expect(updated).toMatchObject({ priority: 20, data: { version: 2 } });
        await repo.removeJobs({ id: saved._id });
        const again = await repo.saveJob({ ...saved, data: { version: 3 } }, undefined);
        expect(again.data).toEqual({ version: 3 });
        expect(await repo.getJobById(String(saved._id))).toBeNull();
      });

      it('keeps one job per name for type single, and keeps an overdue run time', async () => {
        const inTwoMinutes = minutes(2);
        const first = await repo.saveJob(job({ name: 'single', type: 'single', nextRunAt: minutes(1), data: { run: 1 } }), undefined);
        const second = await repo.saveJob(job({ name: 'single', type: 'single', nextRunAt: inTwoMinutes, priority: 10, data: { run: 2 } }), undefined);
        expect(second._id).toBe(first._id);
        expect(second).toMatchObject({ priority: 10, data: { run: 2 } });
        expect(second.nextRunAt!.getTime()).toBe(inTwoMinutes.getTime());
        const overdue = await repo.saveJob(job({ name: 'single', type: 'single', nextRunAt: minutes(-5) }), undefined);
        expect(overdue.nextRunAt!.getTime()).toBe(second.nextRunAt!.getTime());
        expect((await repo.queryJobs({ name: 'single' })).total).toBe(1);
      });

      it('upserts by the unique query, and leaves the job alone with insertOnly', async () => {
        const unique = { 'data.cronId': 'c1' };
        const a = await repo.saveJob({ ...job({ name: 'u', data: { cronId: 'c1', v: 1 } }), unique }, undefined);
        const b = await repo.saveJob({ ...job({ name: 'u', data: { cronId: 'c1', v: 2 } }), unique }, undefined);
        expect(b._id).toBe(a._id);
        expect(b.data).toEqual({ cronId: 'c1', v: 2 });
        const c = await repo.saveJob({ ...job({ name: 'u', data: { cronId: 'c2', v: 1 } }), unique: { 'data.cronId': 'c2' } }, undefined);
        expect(c._id).not.toBe(a._id);
        const d = await repo.saveJob({ ...job({ name: 'u', data: { cronId: 'c1', v: 3 } }), unique, uniqueOpts: { insertOnly: true } }, undefined);
        expect(d._id).toBe(a._id);
        expect((await repo.getJobById(String(a._id)))!.data).toEqual({ cronId: 'c1', v: 2 });
        expect((await repo.queryJobs({ name: 'u' })).total).toBe(2);
      });

      it('debounces saves with the same unique key (trailing pushes the run, maxWait forces it)', async () => {
        const unique = { 'data.key': 'k' };
        const first = await repo.saveJob({ ...job({ name: 'd', data: { key: 'k' } }), unique, uniqueOpts: { debounce: { delay: 60_000 } } }, undefined);
        expect(first.nextRunAt!.getTime()).toBeGreaterThan(Date.now() + 50_000);
        const forced = await repo.saveJob({ ...job({ name: 'd', data: { key: 'k' } }), unique, uniqueOpts: { debounce: { delay: 60_000, maxWait: 0 } } }, undefined);
        expect(forced._id).toBe(first._id);
        expect(forced.nextRunAt!.getTime()).toBeLessThanOrEqual(Date.now());
      });

      it('keeps the disabled flag', async () => {
        const saved = await repo.saveJob(job({ disabled: true }), undefined);
        expect(saved.disabled).toBe(true);
        expect((await repo.getJobById(String(saved._id)))!.disabled).toBe(true);
      });

      it('queries by name, names, search, id, data; pages with a total; hides disabled jobs on request', async () => {
        const a1 = await repo.saveJob(job({ name: 'job-a', priority: 10, nextRunAt: minutes(1), data: { kind: 'alpha', n: 1, on: true } }), undefined);
        await repo.saveJob(job({ name: 'job-b', priority: 5, nextRunAt: minutes(2), data: { kind: 'beta', n: 2, on: false } }), undefined);
        await repo.saveJob(job({ name: 'job-a', priority: 15, nextRunAt: minutes(3), data: { kind: 'alpha', n: 3, nested: { x: 'y' } } }), undefined);
        await repo.saveJob(job({ name: 'other', disabled: true }), undefined);
        expect((await repo.queryJobs()).total).toBe(4);
        expect((await repo.queryJobs({ name: 'job-a' })).jobs.map((j) => j.name)).toEqual(['job-a', 'job-a']);
        expect((await repo.queryJobs({ names: ['job-a', 'job-b'] })).total).toBe(3);
        expect((await repo.queryJobs({ search: 'JOB-' })).total).toBe(3);
        expect((await repo.queryJobs({ id: String(a1._id) })).jobs.map((j) => j._id)).toEqual([a1._id]);
        expect((await repo.queryJobs({ data: { kind: 'alpha' } })).total).toBe(2);
        expect((await repo.queryJobs({ data: { n: 2 } })).total).toBe(1);
        expect((await repo.queryJobs({ data: { on: true } })).total).toBe(1);
        expect((await repo.queryJobs({ data: { nested: { x: 'y' } } })).total).toBe(1);
        const page = await repo.queryJobs({ skip: 1, limit: 2 });
        expect(page.jobs).toHaveLength(2);
        expect(page.total).toBe(4);
        expect((await repo.queryJobs({ includeDisabled: false })).total).toBe(3);
        const byPriority = await repo.queryJobs({ name: 'job-a', sort: { priority: 'desc' } });
        expect(byPriority.jobs.map((j) => j.priority)).toEqual([15, 10]);
      });

      it('computes each job state, and filters and counts by it', async () => {
        await repo.saveJob(job({ name: 's', nextRunAt: minutes(5) }), undefined);
        await repo.saveJob(job({ name: 's', nextRunAt: minutes(-5) }), undefined);
        await repo.saveJob(job({ name: 's', nextRunAt: null, lastFinishedAt: new Date() }), undefined);
        await repo.saveJob(job({ name: 's', nextRunAt: minutes(5), repeatInterval: '5 minutes' }), undefined);
        await repo.saveJob(job({ name: 's', nextRunAt: minutes(5), disabled: true }), undefined);
        expect((await repo.queryJobs({ state: 'queued' })).total).toBe(1);
        expect((await repo.queryJobs({ state: 'scheduled' })).total).toBe(2);
        expect((await repo.queryJobs({ state: 'completed' })).total).toBe(1);
        expect((await repo.queryJobs({ state: 'repeating' })).total).toBe(1);
        expect((await repo.queryJobs({ state: 'paused' })).total).toBe(1);
        const [overview] = await repo.getJobsOverview();
        expect(overview).toMatchObject({ name: 's', total: 5, queued: 1, scheduled: 2, completed: 1, repeating: 1, paused: 1 });
      });

      it('removes by id, ids, name and data, and removes nothing without a criterion', async () => {
        const a = await repo.saveJob(job({ name: 'r1', data: { cronId: 'x' } }), undefined);
        const b = await repo.saveJob(job({ name: 'r1' }), undefined);
        const c = await repo.saveJob(job({ name: 'r2' }), undefined);
        await repo.saveJob(job({ name: 'keep', data: { cronId: 'y' } }), undefined);
        expect(await repo.removeJobs({})).toBe(0);
        expect(await repo.removeJobs({ name: 'nothing' })).toBe(0);
        expect(await repo.removeJobs({ data: { cronId: 'x' } })).toBe(1);
        expect(await repo.removeJobs({ ids: [b._id!, c._id!] })).toBe(2);
        expect(await repo.getJobById(String(a._id))).toBeNull();
        expect(await repo.getDistinctJobNames()).toEqual(['keep']);
        expect(await repo.purgeAllJobs()).toBe(1);
        expect(await repo.getDistinctJobNames()).toEqual([]);
      });

      it('disables and enables by selection, counting the jobs that change', async () => {
        await repo.saveJob(job({ name: 'x' }), undefined);
        await repo.saveJob(job({ name: 'x' }), undefined);
        expect(await repo.disableJobs({})).toBe(0);
        expect(await repo.disableJobs({ name: 'x' })).toBe(2);
        expect(await repo.disableJobs({ name: 'x' })).toBe(0);
        expect((await repo.queryJobs({ includeDisabled: false })).total).toBe(0);
        expect(await repo.enableJobs({ name: 'x' })).toBe(2);
        expect((await repo.queryJobs({ includeDisabled: false })).total).toBe(2);
      });

      it('counts the jobs that are due as the queue size', async () => {
        await repo.saveJob(job({ name: 'q', nextRunAt: minutes(-1) }), undefined);
        await repo.saveJob(job({ name: 'q', nextRunAt: minutes(-2) }), undefined);
        await repo.saveJob(job({ name: 'q', nextRunAt: minutes(1) }), undefined);
        expect(await repo.getQueueSize()).toBe(2);
      });

      it('saves the job state, and refuses to for a job that no longer exists', async () => {
        const saved = await repo.saveJob(job({ nextRunAt: minutes(-1) }), undefined);
        const locked = await repo.lockJob(saved, undefined);
        const now = new Date();
        await repo.saveJobState({ ...locked!, lockedAt: undefined, lastRunAt: now, lastFinishedAt: now, progress: 50, failCount: 1, failReason: 'boom', failedAt: now, nextRunAt: minutes(10) }, undefined);
        const read = await repo.getJobById(String(saved._id));
        expect(read!.lockedAt ?? null).toBeNull();
        expect(read).toMatchObject({ progress: 50, failCount: 1, failReason: 'boom' });
        expect(read!.lastFinishedAt!.getTime()).toBe(now.getTime());
        await repo.removeJobs({ id: saved._id });
        await expect(repo.saveJobState({ ...read! }, undefined)).rejects.toThrow();
      });
    });

    describe('locking', () => {
      it('locks a job once: the same job seen by a second worker is not locked again', async () => {
        const saved = await repo.saveJob(job({ nextRunAt: minutes(-1) }), undefined);
        const locked = await repo.lockJob(saved, undefined);
        expect(locked!.lockedAt).toBeInstanceOf(Date);
        expect(await repo.lockJob(saved, undefined)).toBeUndefined();
        await repo.unlockJob(locked!);
        expect((await repo.getJobById(String(saved._id)))!.lockedAt ?? null).toBeNull();
      });

      it('does not lock a job whose run time changed since the worker read it', async () => {
        const saved = await repo.saveJob(job({ nextRunAt: minutes(-1) }), undefined);
        await repo.saveJob({ ...saved, nextRunAt: minutes(-2) }, undefined);
        expect(await repo.lockJob(saved, undefined)).toBeUndefined();
      });

      it('keeps a started one-time job locked on unlockJob, and unlocks it on unlockJobs', async () => {
        const a = await repo.saveJob(job({ nextRunAt: minutes(-1) }), undefined);
        const b = await repo.saveJob(job({ nextRunAt: minutes(-1) }), undefined);
        const lockedA = await repo.lockJob(a, undefined);
        await repo.lockJob(b, undefined);
        await repo.saveJobState({ ...lockedA!, nextRunAt: null }, undefined);
        await repo.unlockJob({ ...lockedA!, nextRunAt: null });
        expect((await repo.getJobById(String(a._id)))!.lockedAt).toBeInstanceOf(Date);
        await repo.unlockJobs([a._id!, b._id!]);
        expect((await repo.getJobById(String(a._id)))!.lockedAt ?? null).toBeNull();
        expect((await repo.getJobById(String(b._id)))!.lockedAt ?? null).toBeNull();
      });

      it('hands out the earliest due job, then the highest priority, and locks it', async () => {
        const past = minutes(-10);
        await repo.saveJob(job({ name: 'n', priority: 5, nextRunAt: past, data: { p: 'low' } }), undefined);
        await repo.saveJob(job({ name: 'n', priority: 10, nextRunAt: past, data: { p: 'high' } }), undefined);
        await repo.saveJob(job({ name: 'n', priority: 99, nextRunAt: minutes(-1), data: { p: 'later' } }), undefined);
        const now = new Date();
        const scan = () => repo.getNextJobToRun('n', new Date(now.getTime() + 5000), new Date(now.getTime() - 600_000), now, undefined);
        const order = [(await scan())?.data, (await scan())?.data, (await scan())?.data, await scan()];
        expect(order).toEqual([{ p: 'high' }, { p: 'low' }, { p: 'later' }, undefined]);
      });

      it('does not hand out disabled jobs, jobs of another name, or jobs due after the next scan', async () => {
        await repo.saveJob(job({ name: 'n', nextRunAt: minutes(-1), disabled: true }), undefined);
        await repo.saveJob(job({ name: 'other', nextRunAt: minutes(-1) }), undefined);
        await repo.saveJob(job({ name: 'n', nextRunAt: minutes(1) }), undefined);
        const now = new Date();
        expect(await repo.getNextJobToRun('n', new Date(now.getTime() + 5000), new Date(now.getTime() - 600_000), now, undefined)).toBeUndefined();
        const soon = await repo.getNextJobToRun('n', minutes(2), new Date(now.getTime() - 600_000), now, undefined);
        expect(soon?.name).toBe('n');
      });

      it('hands a locked job to another worker only once its lock is older than the deadline', async () => {
        await repo.saveJob(job({ name: 'n', nextRunAt: minutes(-1) }), undefined);
        const lockedAt = minutes(-20);
        const first = await repo.getNextJobToRun('n', minutes(1), minutes(-30), lockedAt, undefined);
        expect(first!.lockedAt!.getTime()).toBe(lockedAt.getTime());
        const other = fixture.another();
        await other.connect();
        try {
          const now = new Date();
          expect(await other.repository.getNextJobToRun('n', minutes(1), minutes(-30), now, undefined)).toBeUndefined();
          const takenOver = await other.repository.getNextJobToRun('n', minutes(1), minutes(-10), now, undefined);
          expect(takenOver?._id).toBe(first!._id);
          expect(takenOver!.lockedAt!.getTime()).toBe(now.getTime());
        } finally {
          await other.disconnect();
        }
      });

      it('never hands the same job to two workers scanning at once', async () => {
        for (let i = 0; i < 10; i++) await repo.saveJob(job({ name: 'n', nextRunAt: minutes(-1), data: { i } }), undefined);
        const other = fixture.another();
        await other.connect();
        try {
          const now = new Date();
          const scan = (r: JobRepository) => r.getNextJobToRun('n', minutes(1), minutes(-10), now, undefined);
          const got = await Promise.all(Array.from({ length: 16 }, (_, i) => scan(i % 2 ? repo : other.repository)));
          const ids = got.filter((j) => j !== undefined).map((j) => String(j._id));
          expect(ids).toHaveLength(10);
          expect(new Set(ids).size).toBe(10);
        } finally {
          await other.disconnect();
        }
      });
    });

    describe('with agenda processing', () => {
      it('runs a job, holding its lock while it runs and releasing it after', async () => {
        const agenda = await agendaOn();
        let lockedWhileRunning: Date | undefined;
        agenda.define('work', async (j: Job) => {
          lockedWhileRunning = (await repo.getJobById(String(j.attrs._id)))?.lockedAt;
        });
        await agenda.start();
        const created = await agenda.now('work', { a: 1 });
        await waitUntil(async () => (await repo.getJobById(String(created.attrs._id)))?.lastFinishedAt !== undefined);
        expect(lockedWhileRunning).toBeInstanceOf(Date);
        const done = await repo.getJobById(String(created.attrs._id));
        expect(done!.lockedAt ?? null).toBeNull();
        expect(done!.nextRunAt).toBeNull();
      });

      it('runs each job exactly once when two workers share the store', async () => {
        const runs: string[] = [];
        const workers = [await agendaOn(), await agendaOn(fixture.another())];
        for (const worker of workers) {
          worker.define('shared', async (j: Job) => {
            runs.push(String(j.attrs._id));
            await sleep(20);
          });
        }
        for (let i = 0; i < 20; i++) await workers[0]!.now('shared', { i });
        await Promise.all(workers.map((worker) => worker.start()));
        await waitUntil(() => runs.length >= 20);
        await sleep(300);
        expect(runs).toHaveLength(20);
        expect(new Set(runs).size).toBe(20);
      });

      it('leaves a job locked by a live worker alone', async () => {
        await repo.saveJob(job({ name: 'held', nextRunAt: minutes(-1) }), undefined);
        await repo.getNextJobToRun('held', minutes(1), minutes(-10), new Date(), undefined);
        const agenda = await agendaOn(fixture.another());
        let runs = 0;
        agenda.define('held', async () => void runs++, { lockLifetime: 60_000 });
        await agenda.start();
        await sleep(400);
        expect(runs).toBe(0);
      });

      it('takes over a job whose worker died once its lock lifetime has passed', async () => {
        await repo.saveJob(job({ name: 'orphan', nextRunAt: minutes(-1) }), undefined);
        // Locked 1.5 s ago by a worker that died without unlocking it.
        await repo.getNextJobToRun('orphan', minutes(1), minutes(-10), new Date(Date.now() - 1500), undefined);
        const agenda = await agendaOn(fixture.another());
        let runs = 0;
        agenda.define('orphan', async () => void runs++, { lockLifetime: 1000 });
        await agenda.start();
        await waitUntil(() => runs === 1);
      });

      it('respects a definition concurrency of one and the global maxConcurrency', async () => {
        const agenda = await agendaOn(fixture.backend, { maxConcurrency: 2 });
        let running = 0;
        let most = 0;
        let mostSingle = 0;
        let single = 0;
        agenda.define('pair', async () => {
          most = Math.max(most, ++running);
          await sleep(80);
          running--;
        });
        agenda.define('solo', async () => {
          mostSingle = Math.max(mostSingle, ++single);
          await sleep(60);
          single--;
        }, { concurrency: 1 });
        let completed = 0;
        agenda.on('complete', () => void completed++);
        for (let i = 0; i < 4; i++) await agenda.now('pair');
        for (let i = 0; i < 3; i++) await agenda.now('solo');
        await agenda.start();
        await waitUntil(() => completed === 7, 8000);
        expect(most).toBeLessThanOrEqual(2);
        expect(mostSingle).toBe(1);
      });

      it('locks no more jobs than the lock limit', async () => {
        const agenda = await agendaOn(fixture.backend, { lockLimit: 1 });
        agenda.define('forever', () => new Promise<void>(() => {}));
        await agenda.now('forever', { i: 1 });
        await agenda.now('forever', { i: 2 });
        await agenda.start();
        await sleep(400);
        expect((await agenda.getRunningStats()).lockedJobs).toBe(1);
      });

      it('computes the next run of a cron expression in its time zone', async () => {
        const agenda = await agendaOn();
        agenda.define('daily', async () => {});
        const created = await agenda.create('daily', { cronId: 'x' }).unique({ 'data.cronId': 'x' }).repeatEvery('0 9 * * *', { timezone: 'America/New_York', skipImmediate: true }).save();
        const stored = await repo.getJobById(String(created.attrs._id));
        expect(stored!.repeatTimezone).toBe('America/New_York');
        const at = stored!.nextRunAt!;
        const wallClock = new Intl.DateTimeFormat('en-GB', { timeZone: 'America/New_York', hour: '2-digit', minute: '2-digit', hour12: false }).format(at);
        expect(wallClock).toBe('09:00');
        expect(at.getTime()).toBeGreaterThan(Date.now());
        expect(at.getTime()).toBeLessThanOrEqual(Date.now() + 24 * 3600_000);
      });

      it('fires a repeating cron every second, one run per slot', async () => {
        const agenda = await agendaOn();
        const runs: number[] = [];
        agenda.define('tick', async (j: Job) => void runs.push(j.attrs.lastRunAt!.getTime()));
        await agenda.create('tick').repeatEvery('* * * * * *', { skipImmediate: true }).save();
        await agenda.start();
        await sleep(2600);
        expect(runs.length).toBeGreaterThanOrEqual(2);
        const seconds = runs.map((ms) => Math.floor(ms / 1000));
        expect(new Set(seconds).size).toBe(seconds.length);
      });

      it('runs a repeating job that missed many slots once, then schedules the next slot', async () => {
        const created = await repo.saveJob(job({ name: 'late', type: 'normal', repeatInterval: '* * * * *', nextRunAt: minutes(-90) }), undefined);
        const agenda = await agendaOn();
        let runs = 0;
        agenda.define('late', async () => void runs++);
        await agenda.start();
        await waitUntil(() => runs === 1);
        await sleep(400);
        expect(runs).toBe(1);
        const next = (await repo.getJobById(String(created._id)))!.nextRunAt!;
        expect(next.getTime()).toBeGreaterThan(Date.now());
        expect(next.getTime()).toBeLessThanOrEqual(Date.now() + 60_000);
      });

      it('releases the jobs it holds but has not started when it stops', async () => {
        const agenda = await agendaOn(fixture.backend, { processEvery: 1000 });
        agenda.define('soon', async () => {});
        const created = await agenda.schedule(new Date(Date.now() + 700), 'soon');
        await agenda.start();
        await waitUntil(async () => (await repo.getJobById(String(created.attrs._id)))?.lockedAt instanceof Date);
        await agenda.stop(false);
        expect((await repo.getJobById(String(created.attrs._id)))!.lockedAt ?? null).toBeNull();
      });

      it('records a failure and does not run a failed one-time job again', async () => {
        const agenda = await agendaOn();
        let runs = 0;
        agenda.define('fails', async () => {
          runs++;
          throw new Error('Intentional failure');
        });
        await agenda.start();
        const created = await agenda.now('fails');
        await waitUntil(async () => (await repo.getJobById(String(created.attrs._id)))?.failedAt !== undefined);
        await sleep(300);
        const stored = await repo.getJobById(String(created.attrs._id));
        expect(runs).toBe(1);
        expect(stored).toMatchObject({ failReason: 'Intentional failure', failCount: 1, nextRunAt: null });
      });

      it('keeps a long job alive with touch, which moves its lock and stores its progress', async () => {
        const agenda = await agendaOn();
        const locks: number[] = [];
        agenda.define('long', async (j: Job) => {
          for (let i = 0; i < 3; i++) {
            await sleep(30);
            await j.touch(30 * (i + 1));
            locks.push(j.attrs.lockedAt!.getTime());
          }
        });
        await agenda.start();
        const created = await agenda.now('long');
        await waitUntil(async () => (await repo.getJobById(String(created.attrs._id)))?.lastFinishedAt !== undefined);
        expect(locks[2]!).toBeGreaterThan(locks[0]!);
        expect((await repo.getJobById(String(created.attrs._id)))!.progress).toBe(90);
      });
    });
  });
}
