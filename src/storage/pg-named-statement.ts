import { createRequire } from 'node:module';

/** A result as the hand-written statements read it (statements.ts). */
export interface StatementResult {
  rows: Record<string, unknown>[];
  rowCount: number | null;
}

/** What a result row is built from: the statement's column names and the parsers of their text. */
interface Shape {
  keys: string[];
  parsers: ((text: string) => unknown)[];
  /** A column named `__proto__`, which a plain assignment would take for the row's prototype. */
  protoKey: boolean;
}
const NO_COLUMNS: Shape = { keys: [], parsers: [], protoKey: false };

/** The parts of node-postgres 8's protocol connection (`client.connection`) a statement writes to. */
interface ProtocolConnection {
  stream: { cork?(): void; uncork?(): void };
  parsedStatements: Record<string, string | undefined>;
  submittedNamedStatements: Record<string, string | undefined>;
  parse(m: { text: string; name: string }): void;
  close(m: { type: 'S'; name: string }): void;
  bind(m: { portal: string; statement: string; values: unknown[] }): void;
  describe(m: { type: 'P'; name: string }): void;
  execute(m: { portal: string }): void;
  sync(): void;
  sendCopyFail(message: string): void;
}

/** The parts of node-postgres 8's Client a statement uses. */
export interface StatementClient {
  query(submittable: object): unknown;
  getTypeParser?(oid: number, format: 'text'): (text: string) => unknown;
}

let pgModules: { prepareValue: (v: unknown) => unknown; typeParser: (oid: number, format: 'text') => (text: string) => unknown } | undefined;
/** Loaded on first use, as database.ts loads pg: SQLite never needs it. */
const pgParts = () => {
  if (!pgModules) {
    const require = createRequire(import.meta.url);
    const { types } = require('pg') as typeof import('pg');
    const { prepareValue } = require('pg/lib/utils') as { prepareValue: (v: unknown) => unknown };
    pgModules = { prepareValue, typeParser: (oid, format) => types.getTypeParser(oid, format) as (text: string) => unknown };
  }
  return pgModules;
};

/** A statement on one connection: its result's shape once described, its runs, and the run that re-plans it next. */
interface Prepared {
  shape: Shape | undefined;
  runs: number;
  replanAt: number;
}
/** Per protocol connection, what it knows of each statement it has prepared. */
const preparedOf = new WeakMap<ProtocolConnection, Map<string, Prepared>>();

/**
 * PostgreSQL plans a prepared statement for its parameters five times, then may keep one generic
 * plan for the statement's life on the connection, made from the table's size at that moment. Made
 * on a new deployment's nearly empty tables, that plan reads a token by scanning the whole table:
 * with 60,000 tokens, 6.8 ms a lookup instead of 0.03 (EXPLAIN ANALYZE), and a bench's refreshes
 * slowed fourfold within 40 s, until an ANALYZE happened to invalidate the plan. So each statement is parsed afresh (Close,
 * then Parse, in the same round trip as its run) at its 50th run on a connection, then each time its
 * runs have grown fourfold, and every 100,000 runs after that: the tables grow with the traffic
 * that runs the statements, so a plan is never made on a table much smaller than the one it reads.
 */
const FIRST_REPLAN = 50;
const REPLAN_GROWTH = 4;
const REPLAN_EVERY_AT_MOST = 100_000;
const nextReplan = (runs: number): number => runs + Math.min(runs * (REPLAN_GROWTH - 1), REPLAN_EVERY_AT_MOST);

/**
 * One run of a prepared statement, as node-postgres's custom-query interface (`client.query(obj)`)
 * drives it. node-postgres's own Query asks the server to describe the result on every run and
 * builds its parsers and a row template from that answer each time: with a row of 15-20 columns
 * (an account, a token with its grant) that was about a third of the client's CPU per statement,
 * 75-80 µs against 50-55 here (bench/README.md). A prepared statement's result columns cannot
 * change on its connection (the server refuses to run it: "cached plan must not change result
 * type", which pg-leases.ts answers by running it unnamed and dropping the connection), so the
 * first run describes it and the later ones on that connection reuse the shape.
 */
class NamedStatement {
  readonly rows: Record<string, unknown>[] = [];
  rowCount: number | null = null;
  #shape: Shape | undefined;
  #prepared: Prepared | undefined;
  #described = false;
  #failure: Error | undefined;

  constructor(
    readonly name: string,
    readonly text: string,
    private readonly values: unknown[],
    private readonly client: StatementClient,
    private callback: ((err: unknown, result?: StatementResult) => void) | undefined,
  ) {}

  /** node-postgres calls this when the connection is free; an error returned is answered without anything sent. */
  submit(connection: ProtocolConnection): Error | null {
    let mapped: unknown[];
    try {
      // Before anything is written: a value that cannot be sent must not leave a parsed statement behind.
      const { prepareValue } = pgParts();
      mapped = this.values.map((v) => prepareValue(v));
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
    let statements = preparedOf.get(connection);
    if (!statements) preparedOf.set(connection, (statements = new Map()));
    let prepared = statements.get(this.name);
    if (!prepared) statements.set(this.name, (prepared = { shape: undefined, runs: 0, replanAt: FIRST_REPLAN }));
    this.#prepared = prepared;
    this.#shape = prepared.shape;
    prepared.runs++;
    connection.stream.cork?.();
    try {
      const parsed = connection.parsedStatements[this.name] !== undefined || connection.submittedNamedStatements[this.name] !== undefined;
      const replan = parsed && prepared.runs >= prepared.replanAt;
      if (replan) {
        prepared.replanAt = nextReplan(prepared.runs);
        // Closing a statement the server no longer has is no error.
        connection.close({ type: 'S', name: this.name });
        delete connection.parsedStatements[this.name];
      }
      if (!parsed || replan) {
        // A statement parsed anew is described anew: its columns are whatever the schema says now.
        // Forgotten now, not when this run succeeds: the server keeps the new statement even when
        // the run fails after it (a bad value, a division by zero), and the next run must not read
        // the new columns by the old names (a review found it did).
        this.#shape = undefined;
        prepared.shape = undefined;
        connection.parse({ text: this.text, name: this.name });
        connection.submittedNamedStatements[this.name] = this.text;
      }
      connection.bind({ portal: '', statement: this.name, values: mapped });
      if (!this.#shape) {
        this.#described = true;
        connection.describe({ type: 'P', name: '' });
      }
      connection.execute({ portal: '' });
      connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
    return null;
  }

  handleRowDescription(msg: { fields: { name: string; dataTypeID: number }[] }): void {
    const parserOf = (oid: number) => (this.client.getTypeParser ? this.client.getTypeParser(oid, 'text') : pgParts().typeParser(oid, 'text'));
    const keys = msg.fields.map((f) => f.name);
    this.#shape = { keys, parsers: msg.fields.map((f) => parserOf(f.dataTypeID)), protoKey: keys.includes('__proto__') };
  }

  handleDataRow(msg: { fields: (string | null)[] }): void {
    if (this.#failure) return;
    const shape = this.#shape;
    const fields = msg.fields;
    if (!shape || shape.keys.length !== fields.length) {
      this.#failure = new Error(`a row of ${fields.length} columns from a statement described with ${shape?.keys.length ?? 'no'} columns`);
      return;
    }
    const row: Record<string, unknown> = {};
    for (let i = 0; i < fields.length; i++) {
      const text = fields[i];
      const value = text === null || text === undefined ? null : shape.parsers[i]!(text);
      if (shape.protoKey) Object.defineProperty(row, shape.keys[i]!, { value, writable: true, enumerable: true, configurable: true });
      else row[shape.keys[i]!] = value;
    }
    this.rows.push(row);
  }

  handleCommandComplete(msg: { text: string }): void {
    // "SELECT 1", "INSERT 0 1", "UPDATE 3": the count is the last word, where there is one.
    const count = /\s(\d+)$/.exec(msg.text);
    this.rowCount = count ? Number(count[1]) : null;
  }

  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyInResponse(connection: ProtocolConnection): void {
    connection.sendCopyFail('No source stream defined');
  }
  handleCopyData(): void {}

  handleError(err: unknown): void {
    this.#finish(err);
  }

  handleReadyForQuery(): void {
    if (this.#failure) return this.#finish(this.#failure);
    // Described and answered without columns (an insert without `returning`): nothing to describe next time either.
    if (this.#described && this.#prepared) this.#prepared.shape = this.#shape ?? NO_COLUMNS;
    this.#finish(null);
  }

  #finish(err: unknown): void {
    const callback = this.callback;
    this.callback = undefined;
    if (err) callback?.(err);
    else callback?.(null, { rows: this.rows, rowCount: this.rowCount });
  }
}

/** Runs the prepared statement `name` (parsed on this connection on its first run) with `values`. */
export function runNamedStatement(client: StatementClient, name: string, text: string, values: unknown[]): Promise<StatementResult> {
  return new Promise((resolve, reject) => {
    client.query(new NamedStatement(name, text, values, client, (err, result) => (err ? reject(err) : resolve(result!))));
  });
}
