// Creates the compose fleet's bucket (S3_BUCKET at S3_ENDPOINT) once the S3 server answers, with the
// S3 SDK the worker's uploads use; an existing bucket is success, so `docker compose up` can run it
// again. Exits non-zero after a minute without an answer (compose restarts it: restart: on-failure).
import { CreateBucketCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';

const { S3_ENDPOINT, S3_BUCKET, S3_KEY, S3_SECRET } = process.env;
if (!S3_ENDPOINT || !S3_BUCKET || !S3_KEY || !S3_SECRET) {
  process.stderr.write('create-bucket: S3_ENDPOINT, S3_BUCKET, S3_KEY and S3_SECRET are required\n');
  process.exit(2);
}
const s3 = new S3Client({
  endpoint: S3_ENDPOINT,
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: S3_KEY, secretAccessKey: S3_SECRET },
});
const until = Date.now() + 60_000;
for (;;) {
  try {
    await s3.send(new CreateBucketCommand({ Bucket: S3_BUCKET }));
    break;
  } catch (err) {
    const name = err instanceof Error ? err.name : '';
    if (name === 'BucketAlreadyOwnedByYou' || name === 'BucketAlreadyExists') break;
    if (Date.now() > until) {
      process.stderr.write(`create-bucket: ${S3_ENDPOINT} did not create ${S3_BUCKET}: ${String(err)}\n`);
      process.exit(1);
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}
await s3.send(new HeadBucketCommand({ Bucket: S3_BUCKET }));
process.stdout.write(`create-bucket: ${S3_BUCKET} is ready at ${S3_ENDPOINT}\n`);
