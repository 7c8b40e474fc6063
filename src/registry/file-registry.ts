import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { z } from 'zod';
// The same worded messages as the configuration's, whatever the process imported first.
import '../config/validation-messages.js';
import { looksLikePhone, normalisePhone } from '../accounts/phone.js';
import { InvalidCitizenIdError, parseCitizenId, type CitizenId } from '../identity/index.js';
import { normaliseName, type IdentityRegistry, type RegistryQuery, type RegistryResult } from './identity-registry.js';

/** One synthetic person, as written in a registry file. */
export interface RegistryRecord {
  citizenId: string;
  name: string;
  status?: 'active' | 'deceased';
  /** Mobile numbers registered in this person's name with their carriers. */
  phones?: string[];
}

const recordSchema = z
  .object({
    citizenId: z.string(),
    name: z.string().refine((n) => normaliseName(n).length > 0, 'must not be empty'),
    status: z.enum(['active', 'deceased']).default('active'),
    phones: z.array(z.string().refine(looksLikePhone, 'must be mainland mobile numbers')).default([]),
  })
  .strict();
const recordsSchema = z.array(recordSchema);

interface StoredRecord {
  readonly name: string;
  readonly deceased: boolean;
  /** Normalised (E.164). */
  readonly phones: ReadonlySet<string>;
}

/**
 * A registry file (or in-memory list) that cannot be used. The message names where the records
 * came from, the record's position and the problem; never a citizen ID number or a name.
 */
export class RegistryRecordsError extends Error {
  constructor(origin: string, problem: string) {
    super(`registry records (${origin}): ${problem}`);
    this.name = 'RegistryRecordsError';
  }
}

function where(path: readonly PropertyKey[]): string {
  const [index, ...rest] = path;
  const record = typeof index === 'number' ? `record ${index + 1}` : 'the file';
  return rest.length ? `${record}, field "${rest.map(String).join('.')}"` : record;
}

/**
 * zod 4 messages describe the expected type or option, never the value that failed. The one
 * exception is an unknown key, which is echoed: a key that is not a plain word could be an ID.
 */
function issueText(issue: z.core.$ZodIssue): string {
  if (issue.code !== 'unrecognized_keys') return issue.message;
  const words = issue.keys.filter((k) => /^[A-Za-z_]{1,32}$/.test(k));
  const named = words.map((k) => `"${k}"`).join(', ');
  const unnamed = issue.keys.length - words.length;
  return `unknown field${issue.keys.length === 1 ? '' : 's'} ${[named, unnamed ? `${unnamed} not shown` : ''].filter(Boolean).join(' and ')}`;
}

/** Validates records into a Map keyed by the normalised citizen ID. */
function indexRecords(input: unknown, origin: string): Map<CitizenId, StoredRecord> {
  const parsed = recordsSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new RegistryRecordsError(origin, `${where(issue.path)}: ${issueText(issue)}`);
  }
  const records = new Map<CitizenId, StoredRecord>();
  const positions = new Map<CitizenId, number>();
  parsed.data.forEach((record, i) => {
    let id: CitizenId;
    try {
      id = parseCitizenId(record.citizenId);
    } catch (e) {
      const problem = e instanceof InvalidCitizenIdError ? e.message : 'the citizen ID number is not valid';
      throw new RegistryRecordsError(origin, `record ${i + 1}, field "citizenId": ${problem}`);
    }
    const first = positions.get(id);
    if (first !== undefined) throw new RegistryRecordsError(origin, `record ${i + 1} repeats the citizen ID number of record ${first + 1}`);
    positions.set(id, i);
    records.set(id, { name: normaliseName(record.name), deceased: record.status === 'deceased', phones: new Set(record.phones.map((p) => normalisePhone(p)!)) });
  });
  return records;
}

/** A registry of records at hand; `listsPhones` says whether any person in it has a phone listed. */
export type FileRegistry = IdentityRegistry & { readonly listsPhones: boolean };

function registryOver(records: ReadonlyMap<CitizenId, StoredRecord>, source: string): FileRegistry {
  return {
    listsPhones: [...records.values()].some((r) => r.phones.size > 0),
    async verify({ citizenId, name, phone }: RegistryQuery): Promise<RegistryResult> {
      const record = records.get(citizenId);
      if (!record) return { outcome: 'unknown' };
      if (record.deceased || record.name !== normaliseName(name)) return { outcome: 'mismatch' };
      if (phone !== undefined && !record.phones.has(normalisePhone(phone) ?? '')) return { outcome: 'phone_mismatch' };
      return { outcome: 'match', checkedAt: new Date(), source };
    },
  };
}

/**
 * A registry backed by a JSON file of synthetic records, for the embedded mode and the tests:
 * `[{ "citizenId": "...", "name": "...", "status"?: "active" | "deceased", "phones"?: ["+86..."] }]`.
 *
 * The file is read and validated once, here; a missing or invalid file throws a
 * `RegistryRecordsError` naming the file and the problem. A deceased person is a 'mismatch'.
 */
export function createFileRegistry(path: string): FileRegistry {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'read error';
    throw new RegistryRecordsError(path, `cannot read the file (${code})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // SyntaxError messages quote the text around the fault, which may be a citizen ID number.
    throw new RegistryRecordsError(path, 'the file is not valid JSON');
  }
  return registryOver(indexRecords(json, path), `file:${basename(path)}`);
}

/** The same registry over records given in code (tests, fixtures built at run time). */
export function createInMemoryRegistry(records: readonly RegistryRecord[], source = 'memory'): FileRegistry {
  return registryOver(indexRecords(records, 'in memory'), source);
}
