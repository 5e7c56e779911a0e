import { MemoryStore } from '../../server/src/store/memory.ts';
import { describeStoreConformance } from '../../server/src/store/conformance.ts';

describeStoreConformance('memory', async () => new MemoryStore());
