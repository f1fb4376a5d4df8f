import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { redactJobData, redactText } from '@recfleet/contract';

/** A BullMQ adapter whose job logs are redacted like its job data. */
class RedactingBullMQAdapter extends BullMQAdapter {
  override async getJobLogs(id: string): Promise<string[]> {
    return (await super.getJobLogs(id)).map(redactText);
  }
}

export interface BullBoardMountOptions {
  queues: readonly Queue[];
  /** Mount path inside the plugin (`/admin/queues`). */
  path: string;
  /** Full URL path of the mount, as the browser sees it (the plugin's prefix + `path`). */
  basePath: string;
  allowActions: boolean;
  recordingsUrl: string;
}

/**
 * Bull Board over the fleet's queues: read-only unless actions are allowed, job data, progress and
 * return values redacted (no join token, no callback/source URL query strings), and never an edit of job data (the
 * editor would only see, and save back, the redacted copy).
 */
export async function mountBullBoard(app: FastifyInstance, o: BullBoardMountOptions): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(o.basePath);
  const adapters = o.queues.map((queue) => {
    const adapter = new RedactingBullMQAdapter(queue, {
      readOnlyMode: !o.allowActions,
      allowRetries: o.allowActions,
    });
    adapter.setFormatter('data', (data: unknown) => redactJobData(data));
    adapter.setFormatter('returnValue', (value: unknown) => redactJobData(value));
    // The worker's progress (totals, per-user figures) holds no secret; redacted all the same, as
    // everything the board shows of a job.
    adapter.setFormatter('progress', (value: unknown) => redactJobData(value));
    return adapter;
  });
  createBullBoard({
    queues: adapters,
    serverAdapter,
    options: {
      uiConfig: {
        boardTitle: 'recfleet',
        miscLinks: [{ text: 'Recordings', url: o.recordingsUrl }],
      },
    },
  });
  await app.register(
    async (board) => {
      board.addHook('onRequest', async (request, reply) => {
        const method = request.method.toUpperCase();
        if (method === 'GET' || method === 'HEAD') return;
        const route = request.routeOptions.url ?? '';
        const editsData = route.endsWith('/add') || route.endsWith('/update-data');
        if (!o.allowActions || editsData) {
          await reply.code(403).send({
            error: 'forbidden',
            message: editsData
              ? 'adding or editing jobs is disabled in the dashboard (it only sees redacted job data)'
              : 'the queue dashboard is read-only',
          });
        }
      });
      await board.register(serverAdapter.registerPlugin());
    },
    { prefix: o.path },
  );
}
