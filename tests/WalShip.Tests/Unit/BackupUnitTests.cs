using System.Formats.Tar;
using System.Text;
using WalShip.Archive;
using WalShip.Commands.Backup;
using WalShip.Pipeline;
using WalShip.Storage;
using WalShip.Wal;
using Xunit;

namespace WalShip.Tests.Unit;

public sealed class SafeTarExtractorTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("walship-unit-tar-").FullName;
    private string Target => Path.Combine(_root, "data");

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static MemoryStream Tar(params TarEntry[] entries)
    {
        var stream = new MemoryStream();
        using (var writer = new TarWriter(stream, TarEntryFormat.Ustar, leaveOpen: true))
            foreach (var entry in entries)
                writer.WriteEntry(entry);
        stream.Position = 0;
        return stream;
    }

    private static UstarTarEntry File(string name, string content) =>
        new(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)), Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite };

    private async Task<int> ExtractAsync(MemoryStream tar)
    {
        Directory.CreateDirectory(Target);
        return await SafeTarExtractor.ExtractAsync(tar, Target, CancellationToken.None);
    }

    [Fact]
    public async Task ExtractsDirectoriesFilesAndInsideLinks_WithTheirModes()
    {
        int count = await ExtractAsync(Tar(
            new UstarTarEntry(TarEntryType.Directory, "global/") { Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute },
            File("global/pg_control", "control"),
            File("PG_VERSION", "15\n"),
            new UstarTarEntry(TarEntryType.SymbolicLink, "latest") { LinkName = "global/pg_control" }));
        Assert.Equal(4, count);
        Assert.Equal("control", System.IO.File.ReadAllText(Path.Combine(Target, "global", "pg_control")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, System.IO.File.GetUnixFileMode(Path.Combine(Target, "PG_VERSION")));
        Assert.Equal("global/pg_control", new FileInfo(Path.Combine(Target, "latest")).LinkTarget);
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData("base/../../escape")]
    [InlineData("/etc/escape")]
    public async Task RefusesNamesOutsideTheDirectory(string name)
    {
        var e = await Assert.ThrowsAsync<UnsafeArchiveException>(() => ExtractAsync(Tar(File("ok", "fine"), File(name, "evil"))));
        Assert.Contains(name, e.Message);
        Assert.False(System.IO.File.Exists(Path.Combine(_root, "escape")));
        Assert.True(System.IO.File.Exists(Path.Combine(Target, "ok")));
    }

    [Theory]
    [InlineData("/etc")]
    [InlineData("../..")]
    [InlineData("base/../../outside")]
    public async Task RefusesSymbolicLinksLeavingTheDirectory(string target)
    {
        var e = await Assert.ThrowsAsync<UnsafeArchiveException>(() =>
            ExtractAsync(Tar(new UstarTarEntry(TarEntryType.SymbolicLink, "link") { LinkName = target })));
        Assert.Contains("outside the data directory", e.Message);
        Assert.False(Path.Exists(Path.Combine(Target, "link")));
    }

    [Fact]
    public async Task RefusesWritingThroughALink_HardLinksAndDevices()
    {
        Directory.CreateDirectory(Path.Combine(_root, "inside-target"));
        var through = await Assert.ThrowsAsync<UnsafeArchiveException>(() => ExtractAsync(Tar(
            new UstarTarEntry(TarEntryType.Directory, "dir/"),
            new UstarTarEntry(TarEntryType.SymbolicLink, "link") { LinkName = "dir" },
            File("link/file", "x"))));
        Assert.Contains("symbolic link", through.Message);

        Directory.Delete(Target, recursive: true);
        var hard = await Assert.ThrowsAsync<UnsafeArchiveException>(() => ExtractAsync(Tar(
            File("a", "x"), new UstarTarEntry(TarEntryType.HardLink, "b") { LinkName = "a" })));
        Assert.Contains("hard link", hard.Message);

        Directory.Delete(Target, recursive: true);
        var device = await Assert.ThrowsAsync<UnsafeArchiveException>(() => ExtractAsync(Tar(
            new UstarTarEntry(TarEntryType.CharacterDevice, "null") { DeviceMajor = 1, DeviceMinor = 3 })));
        Assert.Contains("CharacterDevice", device.Message);
    }
}

public sealed class TarStreamObserverTests
{
    [Fact]
    public void FindsTheBackupLabelControlFileAndVersion_InAStreamFedInOddPieces()
    {
        byte[] control = new byte[8192];
        BitConverter.GetBytes(7301234567890123456UL).CopyTo(control, 0);
        var stream = new MemoryStream();
        using (var writer = new TarWriter(stream, TarEntryFormat.Ustar, leaveOpen: true))
        {
            writer.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, "backup_label") { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(LabelTests.Label)) });
            writer.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, "tablespace_map") { DataStream = new MemoryStream() });
            writer.WriteEntry(new UstarTarEntry(TarEntryType.Directory, "base/"));
            writer.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, "base/big") { DataStream = new MemoryStream(new byte[100_000]) });
            writer.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, "PG_VERSION") { DataStream = new MemoryStream("15\n"u8.ToArray()) });
            writer.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, "global/pg_control") { DataStream = new MemoryStream(control) });
        }
        byte[] tar = stream.ToArray();
        var observer = new TarStreamObserver();
        for (int offset = 0; offset < tar.Length; offset += 333)
            observer.Write(tar.AsSpan(offset, Math.Min(333, tar.Length - offset)));
        observer.Complete();

        Assert.Equal(LabelTests.Label, observer.TextOf("backup_label"));
        Assert.Equal("15\n", observer.TextOf("PG_VERSION"));
        Assert.Equal(7301234567890123456UL, observer.SystemIdentifier);
        Assert.Equal(6, observer.Entries);
        Assert.False(observer.HasTablespaces); // pg_basebackup always sends a tablespace_map, empty without tablespaces
    }

    [Fact]
    public void ANonEmptyTablespaceMapMeansTablespaces()
    {
        var stream = new MemoryStream();
        using (var writer = new TarWriter(stream, TarEntryFormat.Ustar, leaveOpen: true))
            writer.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, "tablespace_map") { DataStream = new MemoryStream("16384 /srv/ts\n"u8.ToArray()) });
        var observer = new TarStreamObserver();
        observer.Write(stream.ToArray());
        Assert.True(observer.HasTablespaces);
    }
}

public sealed class LabelTests
{
    public const string Label = """
        START WAL LOCATION: 0/5000028 (file 000000010000000000000005)
        CHECKPOINT LOCATION: 0/5000060
        BACKUP METHOD: streamed
        BACKUP FROM: primary
        START TIME: 2026-11-25 20:41:00 UTC
        LABEL: walship base_20261125T204100Z
        START TIMELINE: 1

        """;

    [Fact]
    public void ParsesABackupLabel()
    {
        var label = BackupLabel.Parse(Label);
        Assert.Equal(new Lsn(0x5000028), label.StartLsn);
        Assert.Equal("000000010000000000000005", label.StartWalFile);
        Assert.Equal(new Lsn(0x5000060), label.CheckpointLsn);
        Assert.Equal(1u, label.StartTimeline);
        Assert.Equal("walship base_20261125T204100Z", label.Label);
        Assert.Null(label.StopLsn);
    }

    [Fact]
    public void ParsesTheBackupHistoryFile_WithItsStopPoint()
    {
        var history = BackupLabel.Parse(Label.Replace("CHECKPOINT LOCATION", "STOP WAL LOCATION: 1/6000138 (file 000000020000000100000006)\nCHECKPOINT LOCATION")
                                        + "STOP TIME: 2026-11-25 20:41:05 UTC\nSTOP TIMELINE: 2\n");
        Assert.Equal(new Lsn(0x1_0600_0138), history.StopLsn);
        Assert.Equal("000000020000000100000006", history.StopWalFile);
        Assert.Equal(2u, history.StopTimeline);
    }

    [Theory]
    [InlineData("LABEL: x\n")]
    [InlineData("START WAL LOCATION: 0/5000028\n")]
    [InlineData("START WAL LOCATION: zz/1 (file 000000010000000000000005)\n")]
    [InlineData("START WAL LOCATION: 0/5000028 (file ../../etc/passwd)\n")]
    public void RefusesLabelsWithoutAValidStart(string text) =>
        Assert.Throws<WalFormatException>(() => BackupLabel.Parse(text));

    [Fact]
    public void LsnFormatsLikePostgres_AndNamesItsSegment()
    {
        var lsn = Lsn.Parse("1/A0000028");
        Assert.Equal("1/A0000028", lsn.ToString());
        Assert.Equal("0000000300000001000000A0", lsn.SegmentName(3, 16 << 20));
        Assert.False(Lsn.TryParse("12345", out _));
    }
}

public sealed class StreamingUploadTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("walship-unit-upload-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task FileStore_PartsAppearOnlyOnComplete_CreateOnly_AndReadBackByRange()
    {
        using var store = new FileObjectStore(_root);
        byte[] content = new byte[3 * 1000 + 17];
        new Random(7).NextBytes(content);
        var sink = new PartSink(1000);
        await using (var upload = await store.BeginUploadAsync("backup/b/base.tar.zst", CancellationToken.None))
        {
            sink.Write(content);
            sink.Complete();
            await sink.SendReadyAsync(upload, CancellationToken.None);
            Assert.Null(await store.GetLengthAsync("backup/b/base.tar.zst", CancellationToken.None));
            Assert.Equal(content.Length, await upload.CompleteAsync(CancellationToken.None));
        }
        using (var range = await store.OpenReadAsync("backup/b/base.tar.zst", 990, 30, CancellationToken.None))
        {
            var copy = new MemoryStream();
            await range.Body.CopyToAsync(copy);
            Assert.Equal(content.AsSpan(990, 30).ToArray(), copy.ToArray());
        }
        Assert.Equal(["backup/b/base.tar.zst"], await ListKeysAsync(store, "backup/"));

        await using (var second = await store.BeginUploadAsync("backup/b/base.tar.zst", CancellationToken.None))
        {
            var part = new PooledBuffer();
            part.Write([1, 2, 3]);
            await second.AddPartAsync(part, CancellationToken.None);
            var e = await Assert.ThrowsAsync<StorageException>(() => second.CompleteAsync(CancellationToken.None));
            Assert.Equal(ErrorClass.Conflict, e.Class);
        }
        Assert.Equal(content.Length, await store.GetLengthAsync("backup/b/base.tar.zst", CancellationToken.None));
        Assert.Single(Directory.GetFiles(Path.Combine(_root, "backup", "b"))); // no temporary file left

        await using (var abandoned = await store.BeginUploadAsync("backup/c/base.tar.zst", CancellationToken.None))
        {
            var part = new PooledBuffer();
            part.Write(content);
            await abandoned.AddPartAsync(part, CancellationToken.None);
        }
        Assert.Empty(Directory.GetFiles(Path.Combine(_root, "backup", "c")));
        Assert.Empty(await store.DeleteAsync(["backup/b/base.tar.zst"], CancellationToken.None));
        Assert.Empty(await ListKeysAsync(store, "backup/"));
    }

    private static async Task<List<string>> ListKeysAsync(IObjectStore store, string prefix)
    {
        var keys = new List<string>();
        await foreach (var entry in store.ListAsync(prefix, delimited: false, CancellationToken.None))
            keys.Add(entry.Key);
        return keys;
    }
}

/// <summary>Client-side encryption of base backup data: the real encoder and decoder, and backup fetch
/// over a directory repository holding backups made by the encoder.</summary>
public sealed class BackupEncryptionTests : IDisposable
{
    private static readonly EncryptionKey OldKey = new(Enumerable.Range(0, 32).Select(i => (byte)(i + 1)).ToArray());
    private static readonly EncryptionKey NewKey = new(Enumerable.Range(0, 32).Select(i => (byte)(200 - i)).ToArray());
    private readonly string _root = Directory.CreateTempSubdirectory("walship-unit-backup-enc-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>A tar of a few files, one of ~600 KiB of poorly compressible bytes, so the stored data spans
    /// many 64 KiB AES-GCM chunks.</summary>
    private static byte[] SampleTar()
    {
        var random = new Random(11);
        byte[] big = new byte[600 * 1024];
        for (int i = 0; i < big.Length; i += 2)
            big[i] = (byte)random.Next(256);
        var stream = new MemoryStream();
        using (var writer = new TarWriter(stream, TarEntryFormat.Ustar, leaveOpen: true))
        {
            writer.WriteEntry(new UstarTarEntry(TarEntryType.Directory, "base") { Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute });
            writer.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, "base/big") { DataStream = new MemoryStream(big), Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite });
            writer.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, "PG_VERSION") { DataStream = new MemoryStream("15\n"u8.ToArray()), Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite });
        }
        return stream.ToArray();
    }

    private static (byte[] Stored, BackupManifest Manifest) Encode(string name, byte[] tar, EncryptionKey? key)
    {
        using var stored = new PooledBuffer();
        using (var encoder = new BackupDataEncoder(name, stored, key, compressionLevel: 3, compressionThreads: 1))
        {
            for (int offset = 0; offset < tar.Length; offset += 100_000)
                encoder.Write(tar.AsSpan(offset, Math.Min(100_000, tar.Length - offset)));
            encoder.Complete();
            byte[] bytes = new byte[stored.Length];
            stored.CopyTo(0, bytes);
            return (bytes, new BackupManifest
            {
                Format = key is null ? BackupManifest.PlaintextFormat : BackupManifest.EncryptedFormat,
                Name = name,
                Cipher = key is null ? BackupManifest.NoCipher : BackupManifest.Aes256Gcm,
                KeyId = key?.IdText,
                RawBytes = encoder.RawBytes,
                RawSha256 = encoder.RawSha256,
                StoredBytes = bytes.Length,
                Finished = DateTimeOffset.UnixEpoch,
            });
        }
    }

    /// <summary>Decodes <paramref name="stored"/> fed in pieces of <paramref name="piece"/> bytes, as
    /// consecutive ranged GETs deliver it, and returns the tar.</summary>
    private static byte[] Decode(byte[] stored, BackupManifest manifest, EncryptionKey? key, int piece)
    {
        using var tar = new PooledBuffer();
        using (var decoder = new BackupDataDecoder(manifest, key, tar))
        {
            for (int offset = 0; offset < stored.Length; offset += piece)
                decoder.Write(stored.AsSpan(offset, Math.Min(piece, stored.Length - offset)));
            decoder.Complete();
        }
        byte[] bytes = new byte[tar.Length];
        tar.CopyTo(0, bytes);
        return bytes;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(31)]          // inside the salt
    [InlineData(65_552)]      // exactly one sealed chunk
    [InlineData(100_003)]     // ranges that cut chunks anywhere
    [InlineData(8 << 20)]     // the whole object at once
    public void EncryptedData_RoundTrips_WhateverTheRangeBoundaries(int piece)
    {
        byte[] tar = SampleTar();
        var (stored, manifest) = Encode("base_20260101T000000Z", tar, NewKey);
        Assert.Equal(tar, Decode(stored, BackupManifest.Parse(manifest.ToUtf8()), NewKey, piece));
    }

    [Fact]
    public void EncryptedData_IsNotZstdAndDoesNotShowThePlaintext_AndItsManifestNamesCipherAndKey()
    {
        byte[] tar = SampleTar();
        var (plain, _) = Encode("b", tar, null);
        var (stored, manifest) = Encode("b", tar, NewKey);
        Assert.Equal([0x28, 0xB5, 0x2F, 0xFD], plain[..4]); // zstd frame magic
        Assert.NotEqual([0x28, 0xB5, 0x2F, 0xFD], stored[32..36]);
        Assert.Equal(-1, stored.AsSpan().IndexOf("PG_VERSION"u8));
        // Salt, then the zstd stream in 64 KiB chunks, each with its 16-byte tag.
        Assert.Equal(AesGcmChunks.SaltSize + AesGcmChunks.StoredLength(plain.Length), stored.Length);

        string json = Encoding.UTF8.GetString(manifest.ToUtf8());
        Assert.Contains("\"format\": 2", json);
        Assert.Contains("\"cipher\": \"aes-256-gcm\"", json);
        Assert.Contains($"\"key_id\": \"{NewKey.IdText}\"", json);
        var parsed = BackupManifest.Parse(manifest.ToUtf8());
        Assert.True(parsed.IsEncrypted);
        Assert.Equal(NewKey.Id, parsed.KeyIdValue());
    }

    [Theory]
    [InlineData(2)]            // the salt
    [InlineData(40)]           // the first chunk
    [InlineData(200_000)]      // a middle chunk
    [InlineData(-1)]           // the last tag
    public void AChangedByte_FailsDecryption(int position)
    {
        var (stored, manifest) = Encode("b", SampleTar(), NewKey);
        stored[position >= 0 ? position : stored.Length + position] ^= 0x01;
        var e = Assert.Throws<InvalidDataException>(() => Decode(stored, manifest, NewKey, 100_003));
        Assert.Contains("decryption failed at chunk", e.Message);
    }

    [Fact]
    public void TruncatedData_AnotherBackupsData_OrAChangedManifest_FailDecryption()
    {
        byte[] tar = SampleTar();
        var (stored, manifest) = Encode("base_a", tar, NewKey);
        // Cut at a chunk boundary: the new last chunk was not sealed as the last.
        int cut = AesGcmChunks.SaltSize + 2 * (AesGcmChunks.ChunkSize + AesGcmChunks.TagSize);
        Assert.Throws<InvalidDataException>(() => Decode(stored[..cut], manifest, NewKey, 100_003));
        // Another backup's data under this backup.json (same key, same content): its last chunk names another backup.
        var (other, _) = Encode("base_b", tar, NewKey);
        Assert.Throws<InvalidDataException>(() => Decode(other, manifest, NewKey, 100_003));
        // A backup.json whose size or checksum was changed.
        var changed = BackupManifest.Parse(Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(manifest.ToUtf8())
            .Replace(manifest.RawSha256, new string('0', 64), StringComparison.Ordinal)));
        Assert.Throws<InvalidDataException>(() => Decode(stored, changed, NewKey, 100_003));
    }

    [Theory]
    [InlineData("\"format\": 2", "\"format\": 1")]
    [InlineData("\"cipher\": \"aes-256-gcm\"", "\"cipher\": \"none\"")]
    [InlineData("\"key_id\": \"", "\"key_id\": \"zz")]
    public void AManifestWhoseFormatCipherAndKeyIdDisagree_IsRefused(string from, string to)
    {
        var (_, manifest) = Encode("b", SampleTar(), NewKey);
        string json = Encoding.UTF8.GetString(manifest.ToUtf8()).Replace(from, to, StringComparison.Ordinal);
        Assert.Throws<CorruptObjectException>(() => BackupManifest.Parse(Encoding.UTF8.GetBytes(json)));
    }

    private async Task<WalShip.Commands.Repository> StoreBackupAsync(string name, byte[] stored, BackupManifest manifest)
    {
        Directory.CreateDirectory(Path.Combine(_root, "repo"));
        var repository = new WalShip.Commands.Repository(new FileObjectStore(Path.Combine(_root, "repo")), new ArchiveLayout(""), "file://" + _root + "/repo");
        foreach (var (key, bytes) in new[] { (repository.Layout.BackupDataKey(name), stored), (repository.Layout.BackupManifestKey(name), manifest.ToUtf8()) })
        {
            using var body = new PooledBuffer();
            body.Write(bytes);
            await repository.Store.PutIfAbsentAsync(key, body, new Dictionary<string, string>(), CancellationToken.None);
        }
        return repository;
    }

    private static WalShip.Commands.Repository WithKeys(WalShip.Commands.Repository repository, KeyRing keys) =>
        new(repository.Store, repository.Layout, repository.Url, keys);

    private static Task<BackupManifest> FetchAsync(WalShip.Commands.Repository repository, string target) =>
        new BackupFetchCommand(repository, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, new BackupFetchOptions(RangeSize: 50_000, Concurrency: 3))
            .RunAsync(BackupCatalog.Latest, target, new RecoverySetup(true, "walship fetch %f %p", null, null, null), CancellationToken.None);

    [Fact]
    public async Task Fetch_DecryptsWithAnOlderKeyAfterARotation_AndRefusesWithoutTheKey_BeforeTouchingTheDirectory()
    {
        byte[] tar = SampleTar();
        var (stored, manifest) = Encode("base_20260101T000000Z", tar, OldKey);
        var repository = await StoreBackupAsync(manifest.Name, stored, manifest);

        string target = Path.Combine(_root, "without-key");
        var missing = await Assert.ThrowsAsync<StorageException>(() => FetchAsync(repository, target));
        Assert.Equal(ErrorClass.Config, missing.Class);
        Assert.Contains($"cannot decrypt backup {manifest.Name}", missing.Message);
        Assert.Contains(OldKey.IdText, missing.Message);
        Assert.DoesNotContain('\n', missing.Message);
        Assert.False(Directory.Exists(target));

        var wrong = await Assert.ThrowsAsync<StorageException>(() => FetchAsync(WithKeys(repository, new KeyRing(NewKey, true, [])), target));
        Assert.Equal(ErrorClass.Config, wrong.Class);
        Assert.Contains("--decryption-key-files", wrong.Message);
        Assert.False(Directory.Exists(target));

        // After a rotation: the new key is current, the old one is given with --decryption-key-files.
        string restored = Path.Combine(_root, "restored");
        await FetchAsync(WithKeys(repository, new KeyRing(NewKey, true, [OldKey])), restored);
        Assert.Equal("15\n", File.ReadAllText(Path.Combine(restored, "PG_VERSION")));
        Assert.Equal(600 * 1024, new FileInfo(Path.Combine(restored, "base", "big")).Length);
        Assert.True(File.Exists(Path.Combine(restored, "standby.signal")));
        Assert.False(File.Exists(Path.Combine(restored, BackupFetchCommand.IncompleteMarker)));
    }

    [Fact]
    public async Task Fetch_OfTamperedEncryptedData_FailsAsCorrupt_AndLeavesTheDirectoryMarkedIncomplete()
    {
        var (stored, manifest) = Encode("base_20260101T000000Z", SampleTar(), NewKey);
        stored[stored.Length / 2] ^= 0x20;
        var repository = WithKeys(await StoreBackupAsync(manifest.Name, stored, manifest), new KeyRing(NewKey, true, []));

        string target = Path.Combine(_root, "restore");
        var e = await Assert.ThrowsAsync<StorageException>(() => FetchAsync(repository, target));
        Assert.Equal(ErrorClass.Corrupt, e.Class);
        Assert.Contains($"backup {manifest.Name}", e.Message);
        Assert.Contains("decryption failed at chunk", e.Message);
        Assert.Contains(BackupFetchCommand.IncompleteMarker, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.True(File.Exists(Path.Combine(target, BackupFetchCommand.IncompleteMarker)));
        Assert.Contains("walship_restore_incomplete", File.ReadAllText(Path.Combine(target, "postgresql.auto.conf")));
        Assert.False(File.Exists(Path.Combine(target, "standby.signal")));
    }
}
