/**
 * A small page a frontend team would write: it talks to the API with the typed SDK (plain fetch
 * underneath), and in development the mocks answer instead of a server. Nothing here knows it is
 * mocked except the two lines that start the worker.
 */
import { createHeyKeysClient, type ApiKey, type HeyKeysClient } from '../../../sdk/src/index.ts';
import { setupMockWorker } from '../../src/browser.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

// The page and the API share an origin, as with a dev proxy: the mocks answer `/v1/*` here.
const mock = setupMockWorker({ baseUrl: location.origin });
const fixtures = await mock.start();

const actors = {
  'Ada (owner key)': fixtures.acme.ownerKey.secret,
  'Read-only dashboard key': fixtures.acme.readOnlyKey.secret,
};
const actorSelect = $<HTMLSelectElement>('actor');
for (const name of Object.keys(actors)) actorSelect.add(new Option(name, name));

function client(): HeyKeysClient {
  const apiKey = actors[actorSelect.value as keyof typeof actors];
  return createHeyKeysClient({ baseUrl: location.origin, apiKey });
}

function showError(message: string | null): void {
  const error = $('error');
  error.hidden = message === null;
  error.textContent = message ?? '';
}

async function renderKeys(): Promise<void> {
  // Listing always uses the owner key, so the list stays visible whoever acts.
  const owner = createHeyKeysClient({ baseUrl: location.origin, apiKey: fixtures.acme.ownerKey.secret });
  const { data, error } = await owner.listApiKeys({ query: { limit: 100 } });
  if (error) return showError(error.detail);
  $('keys').replaceChildren(
    ...data.data.map((key: ApiKey) => {
      const row = document.createElement('tr');
      row.dataset['keyId'] = key.id;
      for (const text of [key.name, key.hint, key.permission.type, key.status]) {
        const cell = document.createElement('td');
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    }),
  );
}

$('create').addEventListener('submit', async (event) => {
  event.preventDefault();
  showError(null);
  const name = $<HTMLInputElement>('name').value;
  const { data, error } = await client().createApiKey({ body: { name, permission: { type: 'read_only' }, expires_in_days: 30 } });
  if (error) return showError(`${error.status}: ${error.detail}`);
  $('secret').textContent = data.secret;
  $('new-secret').hidden = false;
  await renderKeys();
});

$('dismiss').addEventListener('click', () => {
  // Shown once: once dismissed, nothing on the page (or in the API) can show it again.
  $('secret').textContent = '';
  $('new-secret').hidden = true;
});

await renderKeys();
$<HTMLButtonElement>('create-button').disabled = false;
$('status').textContent = `Mocked API ready: ${fixtures.acme.name}, ${$('keys').childElementCount} keys.`;
