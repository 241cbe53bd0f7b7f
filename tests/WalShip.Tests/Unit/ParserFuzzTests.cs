using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using WalShip.Archive;
using WalShip.Cli;
using WalShip.Commands;
using WalShip.Pipeline;
using WalShip.Storage;
using WalShip.Wal;
using Xunit;

namespace WalShip.Tests.Unit;

/// <summary>
/// Random and mutated input against every parser of untrusted bytes or text. Seeds are fixed, so a failure
/// reproduces; each fuzzer stops after its iteration count or about two seconds. The properties: only the
/// exception types each API documents, no call that hangs, and decode never hands the caller more bytes
/// than the object's header declares.
/// </summary>
public class ParserFuzzTests
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Hang = TimeSpan.FromSeconds(10);

    /// <summary>Collects property violations, one example per distinct kind, so one run reports them all.</summary>
    private sealed class Findings(string what, int seed)
    {
        private readonly Dictionary<string, string> _examples = [];
        public int Iterations;

        public void Add(string kind, string example)
        {
            lock (_examples)
                _examples.TryAdd(kind, example);
        }

        /// <summary>Runs <paramref name="call"/>; an exception not in <paramref name="allowed"/> is a finding.</summary>
        public Exception? Expect(Action call, string site, Func<string> input, params Type[] allowed)
        {
            try
            {
                call();
                return null;
            }
            catch (Exception e) when (allowed.Contains(e.GetType()))
            {
                return e;
            }
            catch (Exception e)
            {
                Add($"{site} threw {e.GetType().Name}", $"{site} threw {e.GetType().FullName}: {e.Message}\n  input: {input()}\n  {e.StackTrace?.Split('\n').FirstOrDefault()?.Trim()}");
                return e;
            }
        }

        public async Task<Exception?> ExpectAsync(Func<Task> call, string site, Func<string> input, params Type[] allowed)
        {
            try
            {
                await call();
                return null;
            }
            catch (Exception e) when (allowed.Contains(e.GetType()))
            {
                return e;
            }
            catch (Exception e)
            {
                Add($"{site} threw {e.GetType().Name}", $"{site} threw {e.GetType().FullName}: {e.Message}\n  input: {input()}\n  {e.StackTrace?.Split('\n').FirstOrDefault()?.Trim()}");
                return e;
            }
        }

        public void AssertNone()
        {
            Assert.True(Iterations >= 20, $"{what}: only {Iterations} iterations ran");
            Assert.True(_examples.Count == 0,
                $"{what} (seed {seed}, {Iterations} iterations): {_examples.Count} kind(s) of violation\n" +
                string.Join("\n", _examples.Values.Take(12)));
        }
    }

    /// <summary>Runs iterations until the count or the time budget is used up; an iteration that takes more
    /// than <see cref="Hang"/> fails the test instead of hanging it.</summary>
    private static async Task FuzzAsync(string what, int seed, int maxIterations, Func<Random, Findings, Task> iteration)
    {
        var random = new Random(seed);
        var findings = new Findings(what, seed);
        var total = Stopwatch.StartNew();
        while (findings.Iterations < maxIterations && total.Elapsed < Budget)
        {
            var run = Task.Run(() => iteration(random, findings));
            if (await Task.WhenAny(run, Task.Delay(Hang)) != run)
                Assert.Fail($"{what}: iteration {findings.Iterations} (seed {seed}) did not finish within {Hang.TotalSeconds:0} s");
            await run;
            findings.Iterations++;
        }
        findings.AssertNone();
    }

    private static string Escape(string s)
    {
        var text = new StringBuilder("\"");
        foreach (char c in s.Length > 200 ? s[..200] + "…" : s)
            text.Append(c is >= ' ' and < '\u007f' && c != '"' && c != '\\' ? c.ToString() : $"\\u{(int)c:x4}");
        return text.Append('"').ToString();
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    // ------------------------------------------------------------------ ObjectHeader.Parse

    private static byte[] ValidHeader(Random random)
    {
        var header = new ObjectHeader((Codec)random.Next(2), (WalFileKind)random.Next(4), random.NextInt64(0, 1L << 30),
            (ulong)random.NextInt64(), RandomBytes(random, 32));
        var bytes = new byte[ObjectHeader.Size];
        header.WriteTo(bytes);
        return bytes;
    }

    private static void FixCrc(Span<byte> header) =>
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(header[68..], Crc32CFilter.Compute(header[..68]));

    [Fact]
    public Task ObjectHeaderParse_ThrowsOnlyCorruptObjectException() => FuzzAsync("ObjectHeader.Parse", 1001, 5000, (random, findings) =>
    {
        for (int batch = 0; batch < 50; batch++)
        {
            byte[] bytes;
            int mode = random.Next(5);
            switch (mode)
            {
                case 0:
                    bytes = RandomBytes(random, random.Next(0, 100));
                    break;
                case 1:
                    bytes = [.. "WSHP"u8, .. RandomBytes(random, random.Next(0, 90))];
                    break;
                default:
                    bytes = ValidHeader(random);
                    if (random.Next(3) == 0)
                        bytes = [.. bytes, .. RandomBytes(random, random.Next(1, 30))];
                    int flips = random.Next(1, 4);
                    for (int i = 0; i < flips; i++)
                    {
                        int at = random.Next(mode == 4 ? 4 : 0, mode == 4 ? 68 : bytes.Length);
                        bytes[at] = random.Next(3) switch { 0 => (byte)random.Next(256), 1 => 0xFF, _ => (byte)(bytes[at] ^ (1 << random.Next(8))) };
                    }
                    if (mode == 4)
                        FixCrc(bytes);
                    else if (mode == 3)
                        bytes = bytes[..random.Next(0, bytes.Length)];
                    break;
            }

            ObjectHeader parsed = default;
            var error = findings.Expect(() => parsed = ObjectHeader.Parse(bytes), "ObjectHeader.Parse",
                () => Convert.ToHexString(bytes), typeof(CorruptObjectException));
            if (error is null)
            {
                if (parsed.RawLength is < 0 or > 1L << 30 || (byte)parsed.Codec > 1 || (byte)parsed.Kind > 3 || parsed.RawSha256.Length != 32)
                    findings.Add("implausible header accepted", $"{parsed} from {Convert.ToHexString(bytes)}");
                if (bytes.Length < ObjectHeader.Size)
                    findings.Add("short header accepted", Convert.ToHexString(bytes));
            }
        }
        return Task.CompletedTask;
    });

    // ------------------------------------------------------------------ ObjectCodec.DecodeAsync

    private sealed record Sample(WalFileName Name, byte[] Raw, byte[] Stored);

    private static readonly Lazy<Sample[]> s_samples = new(() =>
    {
        var samples = new List<Sample>();
        void Add(string name, byte[] raw)
        {
            using var encoded = ObjectCodec.EncodeAsync(new MemoryStream(raw), WalFileName.Parse(name), 1, 6_000_000_000_000_000_042UL,
                CancellationToken.None).GetAwaiter().GetResult();
            var stored = new byte[encoded.Body.Length];
            encoded.Body.CopyTo(0, stored);
            samples.Add(new Sample(WalFileName.Parse(name), raw, stored));
        }
        Add("000000010000000000000007", SyntheticWal.Segment("000000010000000000000007", SyntheticWal.OneMiB, validPages: 24));
        Add("000000010000000000000008.partial", SyntheticWal.Segment("000000010000000000000008.partial", SyntheticWal.OneMiB, validPages: 10, seed: 8));
        Add("00000002.history", "1\t0/3000000\tno recovery target specified\n"u8.ToArray());
        Add("000000010000000000000002.00000028.backup", Encoding.ASCII.GetBytes(
            "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\nSTOP WAL LOCATION: 0/2000100 (file 000000010000000000000002)\n"));

        // An uncompressed object (codec 0), as a future writer might store a tiny file.
        byte[] history = "1\t0/3000000\tno recovery target specified\n2\t0/5000000\tafter\n"u8.ToArray();
        var header = new ObjectHeader(Codec.None, WalFileKind.History, history.Length, 0, SHA256.HashData(history));
        var plain = new byte[ObjectHeader.Size + history.Length];
        header.WriteTo(plain);
        history.CopyTo(plain, ObjectHeader.Size);
        samples.Add(new Sample(WalFileName.Parse("00000003.history"), history, plain));
        return [.. samples];
    });

    /// <summary>Counts and hashes what decode hands the caller.</summary>
    private sealed class CountingSink : IByteFilter, IDisposable
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        public long Written;
        public void Write(ReadOnlySpan<byte> data)
        {
            Written += data.Length;
            _hash.AppendData(data);
        }
        public void Complete() { }
        public byte[] Sha256() => _hash.GetHashAndReset();
        public void Dispose() => _hash.Dispose();
    }

    /// <summary>A stream that returns at most a few bytes per read, like a slow network.</summary>
    private sealed class TrickleStream(byte[] data, int maxChunk, int seed) : Stream
    {
        private readonly Random _random = new(seed);
        private int _position;
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            int n = Math.Min(Math.Min(buffer.Length, data.Length - _position), _random.Next(1, maxChunk + 1));
            data.AsSpan(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => new(Read(buffer.Span));
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => Task.FromResult(Read(buffer, offset, count));
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private static (byte[] Bytes, string How) MutateObject(Random random, Sample sample)
    {
        var samples = s_samples.Value;
        byte[] bytes = (byte[])sample.Stored.Clone();
        var how = new List<string>();
        int steps = random.Next(1, 4);
        for (int step = 0; step < steps; step++)
        {
            switch (random.Next(8))
            {
                case 0 or 1: // byte flips, mostly near the start where the header and frame headers are
                {
                    int flips = random.Next(1, 8);
                    for (int i = 0; i < flips && bytes.Length > 0; i++)
                    {
                        int at = random.Next(2) == 0 ? random.Next(Math.Min(bytes.Length, 256)) : random.Next(bytes.Length);
                        bytes[at] ^= (byte)(1 << random.Next(8));
                        how.Add($"flip@{at}");
                    }
                    break;
                }
                case 2: // truncation
                {
                    int length = random.Next(2) == 0 ? random.Next(Math.Min(bytes.Length + 1, 200)) : random.Next(bytes.Length + 1);
                    bytes = bytes[..length];
                    how.Add($"truncate@{length}");
                    break;
                }
                case 3: // extension: random bytes, or another copy of the body (a second zstd frame)
                {
                    byte[] tail = random.Next(2) == 0 ? RandomBytes(random, random.Next(1, 5000)) : bytes.AsSpan(Math.Min(ObjectHeader.Size, bytes.Length)).ToArray();
                    bytes = [.. bytes, .. tail];
                    how.Add($"extend+{tail.Length}");
                    break;
                }
                case 4: // insert or delete a range in the body
                {
                    int at = random.Next(Math.Min(bytes.Length, ObjectHeader.Size), bytes.Length + 1);
                    if (random.Next(2) == 0)
                    {
                        bytes = [.. bytes.AsSpan(0, at), .. RandomBytes(random, random.Next(1, 64)), .. bytes.AsSpan(at)];
                        how.Add($"insert@{at}");
                    }
                    else
                    {
                        int length = random.Next(0, Math.Min(64, bytes.Length - at) + 1);
                        bytes = [.. bytes.AsSpan(0, at), .. bytes.AsSpan(at + length)];
                        how.Add($"delete@{at}+{length}");
                    }
                    break;
                }
                case 5 or 6: // a header that passes its CRC but says something else
                {
                    if (bytes.Length < ObjectHeader.Size)
                        break;
                    var header = bytes.AsSpan(0, ObjectHeader.Size);
                    switch (random.Next(6))
                    {
                        case 0:
                        {
                            long raw = random.Next(5) switch
                            {
                                0 => 0,
                                1 => 1L << 30,
                                2 => random.NextInt64(0, 1L << 30),
                                3 => sample.Raw.Length - random.Next(1, 100),
                                _ => sample.Raw.Length + random.Next(1, 100),
                            };
                            System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(header[8..], Math.Max(0, raw));
                            how.Add($"rawlength={raw}");
                            break;
                        }
                        case 1:
                            header[5] ^= 1;
                            how.Add($"codec={header[5]}");
                            break;
                        case 2:
                            header[7] = (byte)random.Next(4);
                            how.Add($"kind={header[7]}");
                            break;
                        case 3:
                            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(header[16..], (ulong)random.NextInt64());
                            how.Add("sysid");
                            break;
                        case 4:
                            header[32 + random.Next(32)] ^= 1;
                            how.Add("sha");
                            break;
                        default:
                            header[24 + random.Next(8)] ^= 0x40;
                            how.Add("reserved");
                            break;
                    }
                    FixCrc(header);
                    break;
                }
                default: // another object's body behind this header
                {
                    var other = samples[random.Next(samples.Length)];
                    if (bytes.Length >= ObjectHeader.Size)
                    {
                        bytes = [.. bytes.AsSpan(0, ObjectHeader.Size), .. other.Stored.AsSpan(ObjectHeader.Size)];
                        how.Add($"body-of:{other.Name}");
                    }
                    break;
                }
            }
        }
        return (bytes, string.Join(",", how));
    }

    [Fact]
    public Task ObjectCodecDecode_ThrowsOnlyDocumentedExceptions_AndNeverOverflowsTheSink() =>
        FuzzAsync("ObjectCodec.DecodeAsync", 2002, 3000, async (random, findings) =>
        {
            var samples = s_samples.Value;
            var sample = samples[random.Next(samples.Length)];
            byte[] bytes;
            string how;
            switch (random.Next(10))
            {
                case 0:
                    bytes = RandomBytes(random, random.Next(0, 400));
                    how = "random";
                    break;
                case 1:
                {
                    // A valid header for this name, then garbage: the decompressor sees random input.
                    var header = new ObjectHeader((Codec)random.Next(2), sample.Name.Kind, random.Next(0, 1 << 21), (ulong)random.NextInt64(), RandomBytes(random, 32));
                    bytes = new byte[ObjectHeader.Size + random.Next(0, 3000)];
                    header.WriteTo(bytes);
                    random.NextBytes(bytes.AsSpan(ObjectHeader.Size));
                    how = $"header({header.Codec},{header.RawLength})+random";
                    break;
                }
                case 2:
                    bytes = sample.Stored;
                    how = "unchanged";
                    break;
                default:
                    (bytes, how) = MutateObject(random, sample);
                    break;
            }

            var name = random.Next(10) == 0 ? samples[random.Next(samples.Length)].Name : sample.Name;
            long storedLength = random.Next(8) switch
            {
                0 => bytes.Length + random.Next(1, 1000),
                1 => Math.Max(0, bytes.Length - random.Next(1, 1000)),
                _ => bytes.Length,
            };
            Stream stream = random.Next(3) == 0 ? new TrickleStream(bytes, random.Next(1, 9000), random.Next()) : new MemoryStream(bytes);

            long declared = 0;
            if (bytes.Length >= ObjectHeader.Size)
            {
                try { declared = ObjectHeader.Parse(bytes.AsSpan(0, ObjectHeader.Size)).RawLength; }
                catch (CorruptObjectException) { declared = 0; }
            }

            using var sink = new CountingSink();
            DecodedObject decoded = default;
            string Input() => $"{sample.Name} as {name}, {how}, {bytes.Length} bytes announced as {storedLength}";
            var error = await findings.ExpectAsync(
                async () => decoded = await ObjectCodec.DecodeAsync(stream, storedLength, name, sink, CancellationToken.None),
                "DecodeAsync", Input, typeof(CorruptObjectException), typeof(EndOfStreamException));

            if (sink.Written > declared)
                findings.Add("sink overflow", $"decode wrote {sink.Written} bytes, the header declares {declared}: {Input()}");
            if (error is null)
            {
                if (sink.Written != decoded.Header.RawLength || !sink.Sha256().AsSpan().SequenceEqual(decoded.Header.RawSha256.Span))
                    findings.Add("unverified success", $"decode succeeded with {sink.Written} bytes that do not match the header: {Input()}");
                if (how == "unchanged" && name == sample.Name && storedLength == bytes.Length && sink.Written != sample.Raw.Length)
                    findings.Add("round trip", $"unchanged object decoded to {sink.Written} bytes: {Input()}");
            }
            else if (how == "unchanged" && name == sample.Name && storedLength <= bytes.Length)
            {
                findings.Add("valid object refused", $"{error.GetType().Name}: {error.Message}: {Input()}");
            }
        });

    // ------------------------------------------------------------------ WalSegmentValidator

    private static readonly Lazy<(string Name, byte[] Bytes)[]> s_segments = new(() =>
    [
        ("000000010000000000000009", SyntheticWal.Segment("000000010000000000000009", SyntheticWal.OneMiB)),
        ("00000002000000000000000A", SyntheticWal.Segment("00000002000000000000000A", SyntheticWal.OneMiB, validPages: 40, timelineOfPage: p => p < 10 ? 1u : 2u, seed: 2)),
        ("00000001000000000000000B.partial", SyntheticWal.Segment("00000001000000000000000B.partial", SyntheticWal.OneMiB, validPages: 12, seed: 3)),
    ]);

    /// <summary>Feeds <paramref name="bytes"/> in chunks; returns the outcome as text, so outcomes can be compared.</summary>
    private static string Validate(Findings findings, string name, byte[] bytes, long fileLength, Func<int> chunk, Func<string> input)
    {
        var validator = new WalSegmentValidator(WalFileName.Parse(name), fileLength);
        var error = findings.Expect(() =>
        {
            int offset = 0;
            while (offset < bytes.Length)
            {
                int take = Math.Min(Math.Max(1, chunk()), bytes.Length - offset);
                validator.Write(bytes.AsSpan(offset, take));
                offset += take;
            }
            validator.Complete();
        }, "WalSegmentValidator", input, typeof(WalFormatException));
        return error is null
            ? $"ok sysid={validator.SystemIdentifier} segsize={validator.SegmentSize} pagesize={validator.PageSize} valid={validator.ValidPages}"
            : $"{error.GetType().Name}: {error.Message}";
    }

    [Fact]
    public Task WalSegmentValidator_ThrowsOnlyWalFormatException_WhateverTheChunking() =>
        FuzzAsync("WalSegmentValidator", 3003, 2000, (random, findings) =>
        {
            var segments = s_segments.Value;
            var (name, original) = segments[random.Next(segments.Length)];
            byte[] bytes = (byte[])original.Clone();
            var how = new List<string>();
            int steps = random.Next(0, 4);
            for (int step = 0; step < steps; step++)
            {
                switch (random.Next(7))
                {
                    case 0 or 1: // a page header field
                    {
                        int pages = Math.Max(1, bytes.Length / SyntheticWal.PageSize);
                        int page = random.Next(3) == 0 ? 0 : random.Next(Math.Min(pages, 48));
                        int at = page * SyntheticWal.PageSize + random.Next(page == 0 ? 40 : 24);
                        if (at < bytes.Length)
                        {
                            bytes[at] = random.Next(2) == 0 ? (byte)random.Next(256) : (byte)(bytes[at] ^ (1 << random.Next(8)));
                            how.Add($"header@{at}");
                        }
                        break;
                    }
                    case 2: // the long header's sizes: other powers of two, or nonsense
                    {
                        int field = random.Next(2) == 0 ? 32 : 36;
                        uint value = random.Next(3) switch { 0 => 1u << random.Next(0, 32), 1 => (uint)random.Next(), _ => 0 };
                        if (bytes.Length >= 40)
                            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(field), value);
                        how.Add($"size@{field}={value}");
                        break;
                    }
                    case 3: // truncate
                    {
                        int length = random.Next(2) == 0 ? random.Next(0, Math.Min(100, bytes.Length + 1)) : random.Next(0, bytes.Length + 1);
                        bytes = bytes[..length];
                        how.Add($"truncate@{length}");
                        break;
                    }
                    case 4: // extend with zeros or noise
                    {
                        int length = random.Next(1, 3 * SyntheticWal.PageSize);
                        byte[] tail = new byte[length];
                        if (random.Next(2) == 0)
                            random.NextBytes(tail);
                        bytes = [.. bytes, .. tail];
                        how.Add($"extend+{length}");
                        break;
                    }
                    case 5: // zero or scribble over a whole page
                    {
                        int pages = bytes.Length / SyntheticWal.PageSize;
                        if (pages == 0)
                            break;
                        var page = bytes.AsSpan(random.Next(pages) * SyntheticWal.PageSize, SyntheticWal.PageSize);
                        if (random.Next(2) == 0)
                            page.Clear();
                        else
                            random.NextBytes(page);
                        how.Add("page");
                        break;
                    }
                    default: // a random byte anywhere
                    {
                        if (bytes.Length == 0)
                            break;
                        int at = random.Next(bytes.Length);
                        bytes[at] ^= (byte)(1 << random.Next(8));
                        how.Add($"flip@{at}");
                        break;
                    }
                }
            }
            long fileLength = random.Next(10) == 0 ? bytes.Length + random.Next(-100, 100) : bytes.Length;
            string Input() => $"{name}, {(how.Count == 0 ? "unchanged" : string.Join(",", how))}, {bytes.Length} bytes, declared {fileLength}";

            string whole = Validate(findings, name, bytes, fileLength, () => int.MaxValue, Input);
            int style = random.Next(3);
            int seed = random.Next();
            var chunks = new Random(seed);
            Func<int> chunk = style switch
            {
                0 => () => chunks.Next(1, 64),
                1 => () => chunks.Next(1, 20_000),
                _ => () => chunks.Next(2) == 0 ? chunks.Next(1, 41) : chunks.Next(1, 3 * SyntheticWal.PageSize),
            };
            string chunked = Validate(findings, name, bytes, fileLength, chunk, () => $"{Input()}, chunk style {style} seed {seed}");
            if (whole != chunked)
                findings.Add("chunking changes the outcome", $"{Input()}: in one write '{whole}', in chunks (style {style}, seed {seed}) '{chunked}'");
            if (how.Count == 0 && fileLength == bytes.Length && !whole.StartsWith("ok", StringComparison.Ordinal))
                findings.Add("valid segment refused", $"{Input()}: {whole}");
            return Task.CompletedTask;
        });

    // ------------------------------------------------------------------ WalFileName.TryParse

    private static readonly string[] s_nameTokens =
    [
        "0", "1", "9", "A", "F", "G", "a", "f", "0000000", "00000001", "FFFFFFFF", "000000010000000000000001", ".", "..", "/",
        ".history", "history", ".partial", ".backup", ".00000028.backup", "\0", " ", "\u0660", "\uff21", "\u00e9", "%", "~",
        "\r\n", "-", "+", "\ud800",
    ];

    private static readonly string[] s_validNames =
    [
        "000000010000000000000001", "0000000A00000002000000FF", "00000002.history", "000000010000000000000003.partial",
        "000000010000000000000002.00000028.backup", "FFFFFFFFFFFFFFFFFFFFFFFF",
    ];

    private static bool IsUpperHex(string s) => s.All(c => c is >= '0' and <= '9' or >= 'A' and <= 'F');

    [Fact]
    public Task WalFileNameTryParse_NeverThrows_AndAcceptsOnlyStrictNames() => FuzzAsync("WalFileName.TryParse", 4004, 5000, (random, findings) =>
    {
        for (int batch = 0; batch < 200; batch++)
        {
            string input;
            if (random.Next(2) == 0)
            {
                var text = new StringBuilder();
                int tokens = random.Next(0, 8);
                for (int i = 0; i < tokens; i++)
                    text.Append(s_nameTokens[random.Next(s_nameTokens.Length)]);
                input = text.ToString();
            }
            else
            {
                var text = new StringBuilder(s_validNames[random.Next(s_validNames.Length)]);
                int edits = random.Next(0, 3);
                for (int i = 0; i < edits; i++)
                {
                    string token = s_nameTokens[random.Next(s_nameTokens.Length)];
                    int at = random.Next(text.Length + 1);
                    switch (random.Next(3))
                    {
                        case 0: text.Insert(at, token); break;
                        case 1 when at < text.Length: text.Remove(at, 1).Insert(at, token[0]); break;
                        default: if (at < text.Length) text.Remove(at, 1); break;
                    }
                }
                input = text.ToString();
            }

            bool ok = false;
            WalFileName name = default;
            findings.Expect(() => ok = WalFileName.TryParse(input, out name), "TryParse", () => Escape(input));
            if (ok)
            {
                bool strict = name.Name == input && name.Timeline != 0 && name.Kind switch
                {
                    WalFileKind.Segment => input.Length == 24 && IsUpperHex(input),
                    WalFileKind.Partial => input.Length == 32 && IsUpperHex(input[..24]) && input.EndsWith(".partial", StringComparison.Ordinal),
                    WalFileKind.Backup => input.Length == 40 && IsUpperHex(input[..24]) && input[24] == '.' && IsUpperHex(input[25..33])
                                          && input.EndsWith(".backup", StringComparison.Ordinal),
                    WalFileKind.History => input.Length == 16 && IsUpperHex(input[..8]) && input.EndsWith(".history", StringComparison.Ordinal),
                    _ => false,
                };
                if (!strict)
                    findings.Add($"accepted {name.Kind}", $"TryParse accepted {Escape(input)} as {name}");
                if (!input.StartsWith($"{name.Timeline:X8}", StringComparison.Ordinal))
                    findings.Add("timeline", $"{Escape(input)} parsed to timeline {name.Timeline}");
            }
            var parseError = findings.Expect(() => WalFileName.Parse(input), "Parse", () => Escape(input), typeof(FormatException));
            if ((parseError is null) != ok)
                findings.Add("Parse disagrees with TryParse", Escape(input));
        }
        return Task.CompletedTask;
    });

    // ------------------------------------------------------------------ ConfigFile.Parse

    private static readonly string[] s_keyTokens =
    [
        "repo", "region", "compression_level", "Compression-Level", "deadline", "config", "path-style", "unknown-key", "REPO",
        " ", "\t", "#", "'", "\"", "_", "-", "\u00e9", "\u00a0", "\r", "\u0130", new string('k', 45), "",
    ];

    private static readonly string[] s_valueTokens = ["=", " ", "'", "\"", "#", "file:///x", "s3://b/p", "\t", "\u00e9", "\r", "", "=="];

    [Fact]
    public Task ConfigFileParse_ThrowsOnlyUsageException_AndNeverEchoesAValue() => FuzzAsync("ConfigFile.Parse", 5005, 5000, (random, findings) =>
    {
        for (int batch = 0; batch < 50; batch++)
        {
            var lines = new List<string>();
            var secrets = new List<string>();
            int count = random.Next(0, 8);
            for (int l = 0; l < count; l++)
            {
                var line = new StringBuilder();
                int keys = random.Next(0, 4);
                for (int i = 0; i < keys; i++)
                    line.Append(s_keyTokens[random.Next(s_keyTokens.Length)]);
                if (random.Next(6) != 0)
                {
                    line.Append(random.Next(2) == 0 ? " = " : "=");
                    int values = random.Next(0, 4);
                    for (int i = 0; i < values; i++)
                    {
                        if (random.Next(3) == 0)
                        {
                            string secret = $"Vq{random.Next(0x100000, 0xFFFFFF):x6}";
                            secrets.Add(secret);
                            line.Append(secret);
                        }
                        else
                        {
                            line.Append(s_valueTokens[random.Next(s_valueTokens.Length)]);
                        }
                    }
                }
                lines.Add(line.ToString());
            }

            var error = findings.Expect(() => ConfigFile.Parse(lines, "/etc/walship.conf"), "ConfigFile.Parse",
                () => string.Join(" | ", lines.Select(Escape)), typeof(UsageException));
            if (error is not null && error is UsageException)
            {
                foreach (string secret in secrets)
                    if (error.Message.Contains(secret, StringComparison.OrdinalIgnoreCase))
                        findings.Add("value echoed", $"'{error.Message}' repeats a value from {string.Join(" | ", lines.Select(Escape))}");
                if (!error.Message.StartsWith("/etc/walship.conf:", StringComparison.Ordinal))
                    findings.Add("no line number", error.Message);
                if (error.Message.Contains('\n') || error.Message.Contains('\r'))
                    findings.Add("multi-line message", Escape(error.Message));
            }
        }
        return Task.CompletedTask;
    });

    // ------------------------------------------------------------------ CommandLine.Parse and the settings it feeds

    private static readonly string[] s_argTokens =
    [
        "push", "fetch", "help", "--", "-", "-h", "--help", "-V", "--version", "-x", "---", "", "%p", "pg_wal/000000010000000000000001",
        "000000010000000000000001", "--repo", "--repo=", "--repo=file:///tmp/r", "--path-style", "--path-style=maybe", "--path-style=off",
        "--deadline", "--deadline=", "--compression-level", "--part-size", "--fatal-exit-code", "--log-format", "--log-level", "--region",
        "--bogus", "--=x", "--repo=a=b", "--upload-concurrency", "--use-instance-metadata", "--compression-threads", "--pgdata",
        "5s", "90", "1.5m", "forever", "-1", "0", "1", "19", "200", "99999999999999999999", "1e9", "5MiB", "5G", "99999999999G",
        "true", "json", "debug", "INFO", "\u00e9", "s3://bucket/p", "s3://B/p", "ftp://x", "file://rel", "file:///tmp/x%00y",
    ];

    [Fact]
    public Task CommandLineParse_ThrowsOnlyUsageException() => FuzzAsync("CommandLine.Parse", 6006, 5000, (random, findings) =>
    {
        for (int batch = 0; batch < 100; batch++)
        {
            var args = Enumerable.Range(0, random.Next(0, 9)).Select(_ => s_argTokens[random.Next(s_argTokens.Length)]).ToList();
            CommandLine? line = null;
            string Input() => string.Join(" ", args.Select(Escape));
            var error = findings.Expect(() => line = CommandLine.Parse(args), "CommandLine.Parse", Input, typeof(UsageException));
            if (error is null && line is not null)
            {
                foreach (string flag in line.Flags.Keys)
                    if (OptionSpec.Find(flag) is null)
                        findings.Add("unknown flag accepted", $"--{flag} from {Input()}");
                if (line.Command is { } command && command.StartsWith("--", StringComparison.Ordinal))
                    findings.Add("option taken as command", Input());
            }
        }
        return Task.CompletedTask;
    });

    private static readonly string[] s_valueFuzz =
    [
        "", " ", "0", "-1", "1", "19", "20", "126", "255", "256", "1.5", ".", "..", "1.2.3", "5s", "90s", "1.5m", "24h", "25h", "1ms", "forever",
        "99999999999999999999", "99999999999999999999s", "99999999999999999999h", "9999999999999999999999999999999999999999",
        new string('9', 400), "1e9", "NaN", "Infinity", "5MiB", "8M", "5G", "5GiB", "99999999999G", "9223372036854775807", "9223372036854775808K",
        "true", "false", "yes", "maybe", "json", "TEXT", "debug", "Warning", "xml", "file:///tmp/r", "file://rel", "file:///tmp/x%00y",
        "file:///%ZZ", "file:///", "s3://bucket/p", "s3://B/p", "s3://bucket//p", "s3://bucket/../p", "s3://", "ftp://x", "\u00e9", "\u0661\u0662",
    ];

    [Fact]
    public Task SettingsFromRandomFlags_FailOnlyWithUsageErrors() => FuzzAsync("Settings", 7007, 3000, (random, findings) =>
    {
        for (int batch = 0; batch < 20; batch++)
        {
            var flags = new Dictionary<string, string>();
            foreach (var spec in OptionSpec.All)
            {
                if (random.Next(3) != 0)
                    continue;
                string value = random.Next(4) == 0
                    ? new string(Enumerable.Range(0, random.Next(1, 30)).Select(_ => (char)('0' + random.Next(10))).ToArray()) + new[] { "", "s", "m", "h", "ms", "K", "M", "G" }[random.Next(8)]
                    : s_valueFuzz[random.Next(s_valueFuzz.Length)];
                if (spec == OptionSpec.Config)
                    value = random.Next(2) == 0 ? "" : "/nonexistent/walship.conf";
                flags[spec.Name] = value;
            }
            string Input() => string.Join(" ", flags.Select(f => $"--{f.Key}={Escape(f.Value)}"));

            Settings? settings = null;
            findings.Expect(() => settings = Settings.Resolve(flags, _ => null), "Settings.Resolve", Input, typeof(UsageException));
            if (settings is null)
                continue;

            var getters = new (string Site, Action Call)[]
            {
                ("GetChoice(log-format)", () => settings.GetChoice(OptionSpec.LogFormat, ("text", 0), ("json", 1))),
                ("GetChoice(log-level)", () => settings.GetChoice(OptionSpec.LogLevel, ("debug", 0), ("info", 1), ("warning", 2), ("error", 3))),
                ("GetDuration(deadline)", () => settings.GetDuration(OptionSpec.Deadline, TimeSpan.FromSeconds(1), TimeSpan.FromHours(24))),
                ("GetInt(compression-level)", () => settings.GetInt(OptionSpec.CompressionLevel, 1, 19)),
                ("GetInt(compression-threads)", () => settings.GetInt(OptionSpec.CompressionThreads, 1, 64)),
                ("GetInt(fatal-exit-code)", () => settings.GetInt(OptionSpec.FatalExitCode, 126, 255)),
                ("GetSize(part-size)", () => settings.GetSize(OptionSpec.PartSize, 5L << 20, 5L << 30)),
                ("GetInt(upload-concurrency)", () => settings.GetInt(OptionSpec.UploadConcurrency, 1, 64)),
                ("GetSwitch(path-style)", () => settings.GetSwitch(OptionSpec.PathStyle)),
                ("GetSwitch(use-instance-metadata)", () => settings.GetSwitch(OptionSpec.UseInstanceMetadata)),
            };
            foreach (var (site, call) in getters)
                findings.Expect(call, site, Input, typeof(UsageException));

            string url = settings.Get(OptionSpec.Repo)!;
            var error = findings.Expect(() => Repository.Open(url, _ => null!) /* the S3 branch needs no store to be checked */, "Repository.Open", () => Escape(url), typeof(StorageException));
            if (error is StorageException { Class: not ErrorClass.Usage } storage)
                findings.Add("Repository.Open class", $"{Escape(url)}: {storage.Class}: {storage.Message}");

            foreach (string value in flags.Values)
            {
                findings.Expect(() => Settings.TryParseDuration(value, out _), "TryParseDuration", () => Escape(value));
                findings.Expect(() => Settings.TryParseSize(value, out _), "TryParseSize", () => Escape(value));
            }
        }
        return Task.CompletedTask;
    });
}
