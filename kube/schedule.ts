/**
 * Kubernetes CronJob schedules: the standard 5-field grammar as the CronJob controller reads it
 * (robfig/cron), and the longest gap between two runs, which config rules (stacks/oub-config.ts) and
 * components (components/backup.ts) both check backups against.
 */
interface CronField {
  readonly values: ReadonlySet<number>;
  /** Started with `*` (or `?`): for day-of-month/day-of-week this decides AND vs OR (robfig/cron, as Kubernetes). */
  readonly star: boolean;
}
export interface CronSchedule {
  readonly minute: CronField;
  readonly hour: CronField;
  readonly dayOfMonth: CronField;
  readonly month: CronField;
  readonly dayOfWeek: CronField;
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const CRON_FIELDS: readonly { name: string; min: number; max: number; names?: readonly string[]; base?: number }[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, base: 1 },
  { name: 'day of week', min: 0, max: 7, names: DAYS, base: 0 },
];

function cronField(spec: string, i: number): CronField {
  const f = CRON_FIELDS[i]!;
  const values = new Set<number>();
  const num = (s: string): number => {
    const named = f.names ? f.names.indexOf(s.toUpperCase()) : -1;
    if (named >= 0) return named + (f.base ?? 0);
    if (!/^\d+$/.test(s)) throw new Error(`${f.name}: "${s}" is not a number`);
    const n = Number(s);
    if (n < f.min || n > f.max) throw new Error(`${f.name}: ${n} is outside ${f.min}-${f.max}`);
    return n;
  };
  for (const part of spec.split(',')) {
    const m = /^(\*|\?|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:\/(\d+))?$/.exec(part);
    if (!m) throw new Error(`${f.name}: "${part}" is not *, a value, a range or a step`);
    const step = m[2] === undefined ? 1 : Number(m[2]);
    if (step < 1) throw new Error(`${f.name}: step must be ≥ 1`);
    let lo: number;
    let hi: number;
    if (m[1] === '*' || m[1] === '?') [lo, hi] = [f.min, f.max];
    else if (m[1]!.includes('-')) {
      const [a, b] = m[1]!.split('-');
      [lo, hi] = [num(a!), num(b!)];
      if (lo > hi) throw new Error(`${f.name}: range ${m[1]} runs backwards`);
    } else {
      lo = num(m[1]!);
      hi = m[2] === undefined ? lo : f.max;
    }
    for (let v = lo; v <= hi; v += step) values.add(i === 4 && v === 7 ? 0 : v);
  }
  return { values, star: spec.startsWith('*') || spec.startsWith('?') };
}

/** Parse a standard 5-field cron expression (minute hour day-of-month month day-of-week), as Kubernetes does. */
export function parseCron(schedule: string): CronSchedule {
  if (/^\s*(@|TZ=|CRON_TZ=)/.test(schedule)) throw new Error('use the 5 fields (minute hour day-of-month month day-of-week); macros and TZ= are not accepted (set timeZone)');
  const parts = schedule.trim().split(/\s+/);
  if (parts.length !== 5) throw new Error(`needs exactly 5 fields, has ${parts.length}`);
  const [minute, hour, dayOfMonth, month, dayOfWeek] = parts.map((p, i) => cronField(p, i)) as [CronField, CronField, CronField, CronField, CronField];
  return { minute, hour, dayOfMonth, month, dayOfWeek };
}

export const DAY_S = 86_400;

/**
 * The longest gap, in seconds, between two consecutive runs of a schedule, found by walking every
 * run from 2000-01-01 to 2004-01-01 UTC (four years: every weekday/month-length/leap-day pattern).
 * Throws when the schedule runs fewer than twice in that window (e.g. `0 0 31 2 *`).
 */
export function scheduleInterval(schedule: string): number {
  // A pure function of the text, walking 1,461 days: every stack validation and render asks for
  // the same few schedules, so remember the answers (schedules that throw are not remembered).
  let interval = intervals.get(schedule);
  if (interval === undefined) {
    interval = computeScheduleInterval(schedule);
    if (intervals.size >= 1000) intervals.clear();
    intervals.set(schedule, interval);
  }
  return interval;
}
const intervals = new Map<string, number>();

function computeScheduleInterval(schedule: string): number {
  const c = parseCron(schedule);
  const minutesOfDay = [...c.hour.values].sort((a, b) => a - b).flatMap((h) => [...c.minute.values].sort((a, b) => a - b).map((m) => h * 60 + m));
  const start = Date.UTC(2000, 0, 1) / 1000;
  let prev: number | undefined;
  let maxGap = 0;
  let runs = 0;
  for (let d = 0; d < 1461; d++) {
    const t = start + d * DAY_S;
    const date = new Date(t * 1000);
    if (!c.month.values.has(date.getUTCMonth() + 1)) continue;
    const dom = c.dayOfMonth.values.has(date.getUTCDate());
    const dow = c.dayOfWeek.values.has(date.getUTCDay());
    const dayMatches = c.dayOfMonth.star || c.dayOfWeek.star ? dom && dow : dom || dow;
    if (!dayMatches) continue;
    for (const m of minutesOfDay) {
      const run = t + m * 60;
      if (prev !== undefined) maxGap = Math.max(maxGap, run - prev);
      prev = run;
      runs++;
    }
  }
  if (runs < 2) throw new Error('runs fewer than twice in four years: a backup schedule must repeat');
  return maxGap;
}
