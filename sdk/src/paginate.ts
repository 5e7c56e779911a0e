import { HeyKeysProblemError, type HeyKeysProblem } from './errors.js';

/** The shape every list operation answers with: one page of items and the cursor of the next. */
export interface Page<Item> {
  data: Item[];
  next_cursor: string | null;
}

type PageResult<Item> =
  | { data: Page<Item>; error: undefined; response: Response }
  | { data: undefined; error: HeyKeysProblem; response: Response };

/** A list method of a HeyKeys client: one that takes a `cursor` query parameter and answers with a `Page`. */
export type ListMethod<Options, Item> = ((options: Options) => Promise<PageResult<Item>>) & { readonly operationId: string };

/**
 * Walks every page of a list operation and yields its items one by one, following `next_cursor`
 * until it is null. Stop early with `break`. A problem on any page throws `HeyKeysProblemError`,
 * whether or not the client was made with `throwOnError`.
 *
 * @param list A list method of a client, e.g. `heykeys.listApiKeys` or `heykeys.listTags`.
 * @param options The method's options; `query.limit` sets the page size, `query.cursor` where to start.
 *
 * @example
 * for await (const key of paginate(heykeys.listApiKeys, { query: { status: 'active', limit: 100 } })) {
 *   console.log(key.id, key.name);
 * }
 */
export async function* paginate<Options extends { query?: { cursor?: string } } | undefined, Item>(
  list: ListMethod<Options, Item>,
  ...[options]: {} extends NonNullable<Options> ? [options?: Options] : [options: Options]
): AsyncGenerator<Item, void, undefined> {
  let cursor = options?.query?.cursor;
  do {
    const pageOptions = { ...options, query: { ...options?.query, ...(cursor === undefined ? {} : { cursor }) } } as Options;
    const { data, error, response } = await list(pageOptions);
    if (error) throw new HeyKeysProblemError(list.operationId, error, response);
    yield* data.data;
    cursor = data.next_cursor ?? undefined;
  } while (cursor !== undefined);
}
