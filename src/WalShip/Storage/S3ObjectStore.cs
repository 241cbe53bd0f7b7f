using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Logging;
using WalShip.Pipeline;

namespace WalShip.Storage;

/// <summary>Server-side encryption S3 applies to the objects walship writes (--sse, --sse-kms-key-id).</summary>
public sealed record S3ServerSideEncryption(string Method, string? KmsKeyId = null)
{
    public static readonly S3ServerSideEncryption S3Managed = new("AES256");
    public static readonly S3ServerSideEncryption Kms = new("aws:kms");

    internal void ApplyTo(PutObjectRequest request)
    {
        request.ServerSideEncryptionMethod = ServerSideEncryptionMethod.FindValue(Method);
        request.ServerSideEncryptionKeyManagementServiceKeyId = KmsKeyId;
    }

    internal void ApplyTo(InitiateMultipartUploadRequest request)
    {
        request.ServerSideEncryptionMethod = ServerSideEncryptionMethod.FindValue(Method);
        request.ServerSideEncryptionKeyManagementServiceKeyId = KmsKeyId;
    }
}

/// <summary>
/// A repository in an S3 bucket (or an S3-compatible server). Writes are conditional (If-None-Match: *)
/// where the store honours it; the command layer still checks before and after, because some
/// S3-compatible servers ignore the condition.
/// </summary>
public sealed class S3ObjectStore(IAmazonS3 client, string bucket, long partSize, int uploadConcurrency, ILogger logger,
    S3ServerSideEncryption? serverSideEncryption = null, AssumedRoleCredentials? assumedRole = null) : IObjectStore
{
    public string Bucket { get; } = bucket;

    public string Describe(string key) => $"s3://{Bucket}/{key}";

    public Task<long?> GetLengthAsync(string key, CancellationToken cancellationToken) =>
        RenewingAsync(() => HeadAsync(key, cancellationToken), "HEAD", key);

    /// <summary>
    /// Runs one operation; if S3 refuses an assumed role's credentials as expired or invalid (revoked
    /// sessions, a clock ahead of ours, a cache entry that outlived its session), drops them here and in
    /// the cache, assumes the role again and retries once, within the same deadline.
    /// </summary>
    private async Task<T> RenewingAsync<T>(Func<Task<T>> operation, string what, string key)
    {
        try
        {
            return await operation();
        }
        catch (StorageException e) when (assumedRole is not null && S3Errors.IsStaleCredentials(e, what == "HEAD"))
        {
            logger.LogWarning("{Operation} {Location}: S3 refused the credentials of role {Role} ({Message}); assuming the role again and retrying",
                what, Describe(key), assumedRole.RoleArn, e.Message);
            assumedRole.Invalidate();
            return await operation();
        }
    }

    private async Task<long?> HeadAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            var response = await client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = Bucket, Key = key }, cancellationToken);
            return response.ContentLength;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound && e.ErrorCode is not "NoSuchBucket")
        {
            // HEAD has no body, so S3 cannot say NoSuchBucket here; a missing bucket surfaces on the GET or PUT.
            return null;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw S3Errors.Classify(e, "HEAD", Describe(key));
        }
    }

    public Task<ObjectReader> OpenReadAsync(string key, CancellationToken cancellationToken) =>
        RenewingAsync(() => GetAsync(key, cancellationToken), "GET", key);

    private async Task<ObjectReader> GetAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            var response = await client.GetObjectAsync(new GetObjectRequest { BucketName = Bucket, Key = key }, cancellationToken);
            var metadata = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (string name in response.Metadata.Keys)
                metadata[name.StartsWith("x-amz-meta-", StringComparison.OrdinalIgnoreCase) ? name["x-amz-meta-".Length..] : name] = response.Metadata[name];
            return new ObjectReader(new ClassifyingReadStream(response.ResponseStream, Describe(key)), response.ContentLength, response, metadata);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw S3Errors.Classify(e, "GET", Describe(key));
        }
    }

    public Task PutIfAbsentAsync(string key, PooledBuffer body, IReadOnlyDictionary<string, string> metadata, CancellationToken cancellationToken) =>
        PutAsync(key, body, metadata, createOnly: true, cancellationToken);

    public Task ReplaceAsync(string key, PooledBuffer body, IReadOnlyDictionary<string, string> metadata, CancellationToken cancellationToken) =>
        PutAsync(key, body, metadata, createOnly: false, cancellationToken);

    private Task PutAsync(string key, PooledBuffer body, IReadOnlyDictionary<string, string> metadata, bool createOnly, CancellationToken cancellationToken) =>
        RenewingAsync(async () =>
        {
            await PutOnceAsync(key, body, metadata, createOnly, cancellationToken);
            return true;
        }, "PUT", key);

    private async Task PutOnceAsync(string key, PooledBuffer body, IReadOnlyDictionary<string, string> metadata, bool createOnly, CancellationToken cancellationToken)
    {
        try
        {
            if (body.Length <= partSize)
                await PutSingleAsync(key, body, metadata, createOnly, cancellationToken);
            else
                await PutMultipartAsync(key, body, metadata, createOnly, cancellationToken);
        }
        catch (Exception e) when (e is not StorageException && (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested))
        {
            throw S3Errors.Classify(e, "PUT", Describe(key));
        }
    }

    private async Task PutSingleAsync(string key, PooledBuffer body, IReadOnlyDictionary<string, string> metadata, bool createOnly, CancellationToken cancellationToken)
    {
        var (crc, md5) = TransportChecksums(body, 0, body.Length);
        using var content = body.OpenRead();
        var request = new PutObjectRequest
        {
            BucketName = Bucket,
            Key = key,
            InputStream = content,
            AutoCloseStream = false,
            IfNoneMatch = createOnly ? "*" : null,
            // Our own transport checksum in a plain header: the SDK's default aws-chunked trailer is
            // stored verbatim by some S3-compatible servers, corrupting the object.
            ChecksumCRC32C = crc,
            // Content-MD5 too: S3-compatible servers without flexible checksums still verify it.
            MD5Digest = md5,
            UseChunkEncoding = false,
            ContentType = "application/octet-stream",
        };
        request.Headers.ContentLength = body.Length;
        serverSideEncryption?.ApplyTo(request);
        foreach (var (name, value) in metadata)
            request.Metadata[name] = value;

        var response = await client.PutObjectAsync(request, cancellationToken);
        CheckEchoedChecksum(response.ChecksumCRC32C, request.ChecksumCRC32C, key);
        await CheckStoredAsync(key, body.Length, metadata, cancellationToken);
    }

    private async Task PutMultipartAsync(string key, PooledBuffer body, IReadOnlyDictionary<string, string> metadata, bool createOnly, CancellationToken cancellationToken)
    {
        var initiate = new InitiateMultipartUploadRequest
        {
            BucketName = Bucket,
            Key = key,
            ChecksumAlgorithm = ChecksumAlgorithm.CRC32C,
            ContentType = "application/octet-stream",
        };
        serverSideEncryption?.ApplyTo(initiate);
        foreach (var (name, value) in metadata)
            initiate.Metadata[name] = value;
        string uploadId = (await client.InitiateMultipartUploadAsync(initiate, cancellationToken)).UploadId;

        try
        {
            int partCount = (int)((body.Length + partSize - 1) / partSize);
            logger.LogDebug("multipart upload of {Location}: {Parts} parts of up to {PartSize} bytes, {Concurrency} at once",
                Describe(key), partCount, partSize, uploadConcurrency);
            var parts = new PartETag[partCount];
            using var slots = new SemaphoreSlim(uploadConcurrency);
            var uploads = Enumerable.Range(0, partCount).Select(async index =>
            {
                await slots.WaitAsync(cancellationToken);
                try
                {
                    long offset = index * partSize;
                    parts[index] = await UploadPartAsync(key, uploadId, body, offset, Math.Min(partSize, body.Length - offset), index + 1, cancellationToken);
                }
                finally
                {
                    slots.Release();
                }
            }).ToArray();
            await Task.WhenAll(uploads);

            var complete = new CompleteMultipartUploadRequest
            {
                BucketName = Bucket,
                Key = key,
                UploadId = uploadId,
                IfNoneMatch = createOnly ? "*" : null,
                PartETags = [.. parts],
            };
            try
            {
                await client.CompleteMultipartUploadAsync(complete, cancellationToken);
            }
            catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchUpload")
            {
                // A completion retried after its response was lost: the first attempt may have created the
                // object (S3-compatible stores answer the retry NoSuchUpload). The caller compares.
                throw new StorageException(ErrorClass.Conflict, $"{Describe(key)}: the multipart upload is already completed or gone (NoSuchUpload)", e);
            }
        }
        catch (Exception e) when (e is not StorageException { Class: ErrorClass.Conflict })
        {
            await AbortAsync(key, uploadId);
            throw;
        }
        await CheckStoredAsync(key, body.Length, metadata, cancellationToken);
    }

    public async IAsyncEnumerable<ListedEntry> ListAsync(string prefix, bool delimited,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken, string? startAfter = null)
    {
        var request = new ListObjectsV2Request
        {
            BucketName = Bucket,
            Prefix = prefix,
            Delimiter = delimited ? "/" : null,
            MaxKeys = 1000,
            StartAfter = startAfter,
        };
        while (true)
        {
            ListObjectsV2Response page;
            try
            {
                page = await client.ListObjectsV2Async(request, cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                throw S3Errors.Classify(e, "LIST", Describe(prefix));
            }
            foreach (string common in page.CommonPrefixes ?? [])
                yield return new ListedEntry(common, 0, default, IsPrefix: true);
            foreach (var item in page.S3Objects ?? [])
                yield return new ListedEntry(item.Key, item.Size ?? 0,
                    item.LastModified is { } modified ? new DateTimeOffset(modified.ToUniversalTime(), TimeSpan.Zero) : default);
            if (page.IsTruncated != true)
                yield break;
            if (string.IsNullOrEmpty(page.NextContinuationToken))
                throw new StorageException(ErrorClass.Transient, $"LIST {Describe(prefix)}: a truncated page without a continuation token");
            request.ContinuationToken = page.NextContinuationToken;
        }
    }

    public async Task<IReadOnlyList<DeleteFailure>> DeleteAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        if (keys.Count > IObjectStore.MaxDeleteBatch)
            throw new ArgumentException($"at most {IObjectStore.MaxDeleteBatch} keys per delete", nameof(keys));
        if (keys.Count == 0)
            return [];
        var request = new DeleteObjectsRequest
        {
            BucketName = Bucket,
            Objects = keys.Select(key => new KeyVersion { Key = key }).ToList(),
            // Only failures come back: a reply of 1,000 "Deleted" entries is noise.
            Quiet = true,
            // DeleteObjects requires a body checksum (Content-MD5 or x-amz-checksum-*). The SDK sends one even
            // with RequestChecksumCalculation WHEN_REQUIRED; naming the algorithm makes it a plain header.
            ChecksumAlgorithm = ChecksumAlgorithm.CRC32C,
        };
        DeleteObjectsResponse response;
        try
        {
            response = await client.DeleteObjectsAsync(request, cancellationToken);
        }
        catch (DeleteObjectsException e) when (e.Response is not null)
        {
            response = e.Response;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw S3Errors.Classify(e, "DELETE", Describe(keys[0]) + (keys.Count > 1 ? $" and {keys.Count - 1} more" : ""));
        }
        return (response.DeleteErrors ?? []).Select(error => new DeleteFailure(error.Key, error.Code ?? "", error.Message ?? "")).ToList();
    }

    private async Task<PartETag> UploadPartAsync(string key, string uploadId, PooledBuffer body, long offset, long length, int partNumber, CancellationToken cancellationToken)
    {
        var (crc, md5) = TransportChecksums(body, offset, length);
        using var content = body.OpenRead(offset, length);
        var request = new UploadPartRequest
        {
            BucketName = Bucket,
            Key = key,
            UploadId = uploadId,
            PartNumber = partNumber,
            InputStream = content,
            PartSize = length,
            ChecksumCRC32C = crc,
            MD5Digest = md5,
            UseChunkEncoding = false,
        };
        var response = await client.UploadPartAsync(request, cancellationToken);
        CheckEchoedChecksum(response.ChecksumCRC32C, request.ChecksumCRC32C, $"{key} part {partNumber}");
        return new PartETag { PartNumber = partNumber, ETag = response.ETag, ChecksumCRC32C = request.ChecksumCRC32C };
    }

    private async Task AbortAsync(string key, string uploadId)
    {
        // Not tied to the caller's token: an abort must still run when the deadline or a signal cancelled the upload.
        // Shorter than the guard's grace after a deadline or signal, so the abort is not cut off midway.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        try
        {
            await client.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = Bucket, Key = key, UploadId = uploadId }, timeout.Token);
        }
        catch (Exception e)
        {
            logger.LogWarning("could not abort multipart upload {UploadId} of {Location}: {Error}; a lifecycle rule for incomplete uploads cleans it up",
                uploadId, Describe(key), e.Message);
        }
    }

    /// <summary>Reads the object back (HEAD) and checks that what S3 holds is what was sent: the length,
    /// and the raw SHA-256 in its metadata. On a server that ignores If-None-Match, a concurrent writer
    /// with other content shows up here as a mismatch instead of two successful pushes.</summary>
    private async Task CheckStoredAsync(string key, long length, IReadOnlyDictionary<string, string> metadata, CancellationToken cancellationToken)
    {
        var head = await client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = Bucket, Key = key }, cancellationToken);
        if (head.ContentLength != length)
            throw new StorageException(ErrorClass.Corrupt, $"{Describe(key)} is {head.ContentLength} bytes after upload, expected {length}");
        foreach (var (name, value) in metadata)
        {
            string? stored = head.Metadata[name];
            if (stored is not null && stored != value)
                throw new StorageException(ErrorClass.Conflict,
                    $"{Describe(key)} has {name} {stored} after upload, not {value}: another writer stored different content at the same time");
        }
    }

    private static (string Crc32C, string Md5) TransportChecksums(PooledBuffer body, long offset, long length)
    {
        var crc = new Crc32CFilter();
        using var md5 = HashFilter.Md5();
        body.WriteTo(new FilterGroup(crc, md5), offset, length);
        md5.Complete();
        return (crc.ToBase64(), Convert.ToBase64String(md5.Digest));
    }

    private static void CheckEchoedChecksum(string? echoed, string? sent, string what)
    {
        if (!string.IsNullOrEmpty(echoed) && !string.Equals(echoed, sent, StringComparison.Ordinal))
            throw new StorageException(ErrorClass.Corrupt, $"S3 stored {what} with CRC32C {echoed}, but walship sent {sent}");
    }

    // --- Large objects of unknown size (base backups) ---

    private IAmazonS3 Client => client;
    private int UploadConcurrency => uploadConcurrency;

    public async Task<IObjectUpload> BeginUploadAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            var initiate = new InitiateMultipartUploadRequest
            {
                BucketName = Bucket,
                Key = key,
                ChecksumAlgorithm = ChecksumAlgorithm.CRC32C,
                ContentType = "application/octet-stream",
            };
            string uploadId = (await client.InitiateMultipartUploadAsync(initiate, cancellationToken)).UploadId;
            logger.LogDebug("streaming multipart upload of {Location}: parts of {PartSize} bytes, {Concurrency} at once", Describe(key), partSize, uploadConcurrency);
            return new StreamingUpload(this, key, uploadId);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw S3Errors.Classify(e, "PUT", Describe(key));
        }
    }

    public async Task<ObjectReader> OpenReadAsync(string key, long offset, long length, CancellationToken cancellationToken)
    {
        try
        {
            var request = new GetObjectRequest { BucketName = Bucket, Key = key, ByteRange = new ByteRange(offset, offset + length - 1) };
            var response = await client.GetObjectAsync(request, cancellationToken);
            if (response.ContentLength != length)
            {
                response.Dispose();
                throw new StorageException(ErrorClass.Transient, $"GET {Describe(key)} bytes {offset}-{offset + length - 1}: got {response.ContentLength} bytes");
            }
            return new ObjectReader(new ClassifyingReadStream(response.ResponseStream, Describe(key)), response.ContentLength, response);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw S3Errors.Classify(e, "GET", Describe(key));
        }
    }

    /// <summary>A multipart upload fed part by part: at most the store's upload concurrency of parts are in
    /// flight (each in its own pooled buffer), so memory is bounded by parts, never by the object.</summary>
    private sealed class StreamingUpload(S3ObjectStore store, string key, string uploadId) : IObjectUpload
    {
        private readonly SemaphoreSlim _slots = new(store.UploadConcurrency);
        private readonly List<Task<PartETag>> _parts = [];
        private long _length;
        private bool _finished;

        public async Task AddPartAsync(PooledBuffer part, CancellationToken cancellationToken)
        {
            try
            {
                ThrowIfAnyPartFailed();
                await _slots.WaitAsync(cancellationToken);
            }
            catch
            {
                part.Dispose();
                throw;
            }
            int partNumber = _parts.Count + 1;
            _length += part.Length;
            _parts.Add(UploadAsync(part, partNumber, cancellationToken));
        }

        private async Task<PartETag> UploadAsync(PooledBuffer part, int partNumber, CancellationToken cancellationToken)
        {
            try
            {
                await Task.Yield();
                return await store.UploadPartAsync(key, uploadId, part, 0, part.Length, partNumber, cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                throw S3Errors.Classify(e, $"PUT part {partNumber} of", store.Describe(key));
            }
            finally
            {
                part.Dispose();
                _slots.Release();
            }
        }

        private void ThrowIfAnyPartFailed()
        {
            foreach (var part in _parts)
                if (part.IsFaulted || part.IsCanceled)
                    part.GetAwaiter().GetResult();
        }

        public async Task<long> CompleteAsync(CancellationToken cancellationToken)
        {
            if (_parts.Count == 0)
                await AddPartAsync(new PooledBuffer(), cancellationToken);
            var etags = await Task.WhenAll(_parts);
            try
            {
                await store.Client.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
                {
                    BucketName = store.Bucket,
                    Key = key,
                    UploadId = uploadId,
                    IfNoneMatch = "*",
                    PartETags = [.. etags],
                }, cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                throw S3Errors.Classify(e, "PUT", store.Describe(key));
            }
            _finished = true;
            await store.CheckStoredAsync(key, _length, new Dictionary<string, string>(), cancellationToken);
            return _length;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_finished)
            {
                // Let parts in flight end before the abort, or a late part could outlive it.
                await Task.WhenAll(_parts).ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
                await store.AbortAsync(key, uploadId);
            }
            _slots.Dispose();
        }
    }

    public void Dispose()
    {
        client.Dispose();
        assumedRole?.Dispose();
    }
}

/// <summary>
/// The body of a GET, with failures while reading it classified like failures of the request: the
/// SDK checks the body against the object's MD5 ETag at the end and reports a mismatch as a plain
/// client exception, which must read as "corrupt", while a dropped connection is transient.
/// </summary>
internal sealed class ClassifyingReadStream(Stream inner, string location) : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => inner.Length;
    public override long Position { get => inner.Position; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        try
        {
            return inner.Read(buffer);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw Classify(e);
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        try
        {
            return await inner.ReadAsync(buffer, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw Classify(e);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private StorageException Classify(Exception e) =>
        e is AmazonClientException && e.Message.Contains("hash", StringComparison.OrdinalIgnoreCase)
            ? new StorageException(ErrorClass.Corrupt, $"{location} is corrupt: its bytes do not match the checksum S3 holds for it ({e.Message})", e)
            : S3Errors.Classify(e, "reading", location);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            try
            {
                inner.Dispose();
            }
            catch (Exception e) when (e is AmazonClientException or IOException)
            {
                // Closing a body that was not read to the end (the reader already failed on it) can drain it
                // and check its MD5, throwing here and hiding the reader's own, clearer error. A body read to
                // the end was checked by the last read.
            }
        }
        base.Dispose(disposing);
    }

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

internal static class S3Errors
{
    private static T? FindInner<T>(Exception? e) where T : Exception
    {
        for (; e is not null; e = e.InnerException)
            if (e is T found)
                return found;
        return null;
    }

    /// <summary>S3 refused the credentials as expired or invalid. A HEAD has no body to name the error,
    /// so there a bare 400 counts too: with temporary credentials it is how S3 says ExpiredToken.</summary>
    public static bool IsStaleCredentials(Exception e, bool isHead)
    {
        var service = FindInner<AmazonServiceException>(e);
        if (service is null)
            return false;
        return service.ErrorCode is "ExpiredToken" or "ExpiredTokenException" or "TokenRefreshRequired" or "InvalidToken"
               || (isHead && service.StatusCode == HttpStatusCode.BadRequest && service.ErrorCode is null or "" or "BadRequest");
    }

    /// <summary>The message and those of its causes: the SDK's wrappers often say only "Error calling X".</summary>
    private static string WithCauses(Exception e)
    {
        var messages = new List<string>();
        for (var cause = e; cause is not null && messages.Count < 4; cause = cause.InnerException)
            if (!messages.Contains(cause.Message))
                messages.Add(cause.Message);
        return string.Join(": ", messages);
    }

    public static StorageException Classify(Exception e, string operation, string location)
    {
        if (FindInner<StorageException>(e) is { } storage)
            return storage;
        if (e is AmazonS3Exception s3)
        {
            string code = s3.ErrorCode ?? "";
            string detail = $"{operation} {location}: {(string.IsNullOrEmpty(code) ? ((int)s3.StatusCode).ToString() : code)}";
            return code switch
            {
                "NoSuchKey" => new(ErrorClass.Absent, $"{location} is not in the archive", e),
                "NoSuchBucket" => new(ErrorClass.Config, $"{detail}: the bucket does not exist (check --repo)", e),
                "PreconditionFailed" => new(ErrorClass.Conflict, $"{location} already exists", e),
                "NoSuchUpload" => new(ErrorClass.Transient, $"{detail}: the multipart upload vanished (aborted elsewhere?)", e),
                "ConditionalRequestConflict" => new(ErrorClass.Transient, $"{detail}: a concurrent write to the same key is in progress", e),
                "PermanentRedirect" or "AuthorizationHeaderMalformed" or "IllegalLocationConstraintException"
                    => new(ErrorClass.Config, $"{detail}: the bucket is in another region than the one configured (set --region)", e),
                "ExpiredToken" or "ExpiredTokenException" or "TokenRefreshRequired"
                    => new(ErrorClass.Auth, $"{detail}: the credentials have expired", e),
                "SlowDown" or "Throttling" or "ThrottlingException" or "RequestLimitExceeded"
                    => new(ErrorClass.Throttled, $"{detail}: the store is throttling requests", e),
                "InvalidAccessKeyId" or "SignatureDoesNotMatch" or "AccessDenied" or "InvalidToken" or "AllAccessDisabled"
                    => new(ErrorClass.Auth, $"{detail}: {s3.Message}", e),
                _ => s3.StatusCode switch
                {
                    HttpStatusCode.PreconditionFailed => new(ErrorClass.Conflict, $"{location} already exists", e),
                    HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized
                        => new(ErrorClass.Auth, $"{detail}: access denied (a reader without s3:ListBucket also gets this for missing objects)", e),
                    HttpStatusCode.MovedPermanently or HttpStatusCode.Redirect or HttpStatusCode.TemporaryRedirect
                        => new(ErrorClass.Config, $"{detail}: the bucket is in another region than the one configured (set --region)", e),
                    HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable
                        => new(ErrorClass.Throttled, $"{detail}: the store is throttling or unavailable", e),
                    HttpStatusCode.BadRequest or HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed or HttpStatusCode.NotImplemented
                        => new(ErrorClass.Config, $"{detail}: {s3.Message}", e),
                    _ => new(ErrorClass.Transient, $"{detail}: {s3.Message}", e),
                },
            };
        }
        // The SDK's own credential providers (web identity, profile roles) wrap what STS said.
        if (e is AmazonClientException && FindInner<AmazonServiceException>(e.InnerException) is { } fromSts)
            return StsClients.Classify(fromSts, $"{operation} {location}: {e.Message}", null, null);
        if (e is AmazonClientException && e.Message.Contains("credential", StringComparison.OrdinalIgnoreCase))
            return new(ErrorClass.Auth, $"{operation} {location}: no usable AWS credentials ({WithCauses(e)})", e);
        if (FindInner<System.Security.Authentication.AuthenticationException>(e) is { } tls)
            return new(ErrorClass.Config, $"{operation} {location}: TLS handshake failed, the endpoint's certificate is not trusted ({tls.Message}); for a private CA use --ca-file", e);
        if (e is OperationCanceledException or TimeoutException)
            return new(ErrorClass.Transient, $"{operation} {location}: timed out", e);
        if (e is HttpRequestException or IOException or AmazonServiceException or AmazonClientException)
            return new(ErrorClass.Transient, $"{operation} {location}: {WithCauses(e)}", e);
        return new(ErrorClass.Transient, $"{operation} {location}: {e.GetType().Name}: {e.Message}", e);
    }
}
