using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Amazon.Runtime;
using Microsoft.Extensions.Logging;
using WalShip.Commands.Postgres;
using WalShip.Storage;
using WalShip.Wal;

namespace WalShip.Commands;

/// <summary>The AWS side of a check: the source credentials, the role assumed with them (without the
/// credential cache, so that the check really asks STS), and where STS is.</summary>
public sealed record CloudIdentity(AWSCredentials Source, AssumedRoleCredentials? Role, string StsRegion, string? StsEndpoint, TimeSpan RequestTimeout);

public enum CheckStatus { Ok, Warn, Fail, Skip }

/// <summary>One finding of `walship check`. <see cref="Name"/> is stable (for scripts); the message is for people.</summary>
public sealed record CheckResult(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("message")] string Message)
{
    [JsonIgnore] public ErrorClass? FailureClass { get; init; }
}

public sealed record CheckReport(
    [property: JsonPropertyName("ok")] bool Ok,
    [property: JsonPropertyName("side")] string Side,
    [property: JsonPropertyName("repository")] string Repository,
    [property: JsonPropertyName("checks")] IReadOnlyList<CheckResult> Checks);

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(CheckReport))]
internal sealed partial class CheckJsonContext : JsonSerializerContext;

/// <summary>
/// walship check: verifies a live configuration end to end and says in plain words what is wrong. Every
/// check runs (one failure does not hide the next), each problem has its own message, and the exit code
/// is that of the first failure's class (auth 4, config 3, ...), 0 when nothing failed.
/// </summary>
public sealed class CheckCommand(Repository repository, CloudIdentity? cloud, string? dataDirectory, string? connectionString, bool asStandby, ILogger logger)
{
    private readonly List<CheckResult> _results = [];

    public IReadOnlyList<CheckResult> Results => _results;

    public async Task<CheckReport> RunAsync(CancellationToken cancellationToken)
    {
        var settings = await ReadServerAsync(cancellationToken);
        bool standby = asStandby || settings?.InRecovery == true;
        bool storageUsable = await CheckIdentityAsync(cancellationToken);
        RepositoryManifestView? manifest = null;
        if (storageUsable)
        {
            await CheckListAsync(cancellationToken);
            manifest = await CheckManifestAsync(standby, cancellationToken);
            if (!standby)
                await CheckWriteAndDeleteAsync(cancellationToken);
        }
        else
            Add("storage", CheckStatus.Skip, "listing, reading and writing the repository were not tried: no usable credentials");

        CheckSystemIdentifier(manifest, settings);
        if (settings is not null)
        {
            if (standby)
                CheckStandbySettings(settings);
            else
                CheckPrimarySettings(settings);
        }
        else
            Add("postgresql", CheckStatus.Skip, "PostgreSQL settings not checked: give --pgdata DIR or --connection CONNINFO");

        return new CheckReport(_results.All(r => r.Status != "fail"), standby ? "standby" : "primary", repository.Url, _results);
    }

    public static string ToJson(CheckReport report) => JsonSerializer.Serialize(report, CheckJsonContext.Default.CheckReport);

    public static int ExitCode(CheckReport report) =>
        report.Checks.FirstOrDefault(c => c.Status == "fail") is { } failed ? ExitCodes.For(failed.FailureClass ?? ErrorClass.Config) : ExitCodes.Ok;

    private void Add(string name, CheckStatus status, string message, ErrorClass? failure = null)
    {
        _results.Add(new CheckResult(name, status.ToString().ToLowerInvariant(), message) { FailureClass = status == CheckStatus.Fail ? failure ?? ErrorClass.Config : null });
        logger.LogDebug("check {Name}: {Status}: {Message}", name, status, message);
    }

    // ---------------------------------------------------------------- AWS

    private async Task<bool> CheckIdentityAsync(CancellationToken cancellationToken)
    {
        if (cloud is null)
        {
            Add("identity", CheckStatus.Skip, $"{repository.Url} is a directory: no AWS credentials involved");
            return true;
        }
        try
        {
            var (arn, account) = await StsClients.WhoAmIAsync(cloud.Source, cloud.StsRegion, cloud.StsEndpoint, cloud.RequestTimeout, cancellationToken);
            Add("identity", CheckStatus.Ok, $"the source credentials belong to {arn} (account {account})");
        }
        catch (StorageException e)
        {
            Add("identity", CheckStatus.Fail, e.Message, e.Class);
            return false;
        }
        if (cloud.Role is not { } role)
            return true;
        try
        {
            await role.GetCredentialsAsync();
            var (arn, account) = await StsClients.WhoAmIAsync(role, cloud.StsRegion, cloud.StsEndpoint, cloud.RequestTimeout, cancellationToken);
            Add("assume-role", CheckStatus.Ok, $"assumed {role.RoleArn}: now {arn} (account {account})");
            return true;
        }
        catch (StorageException e)
        {
            Add("assume-role", CheckStatus.Fail, e.Message, e.Class);
            return false;
        }
    }

    private async Task CheckListAsync(CancellationToken cancellationToken)
    {
        string prefix = repository.Layout.Prefix.Length == 0 ? "" : repository.Layout.Prefix + "/";
        try
        {
            // The first page answers the question; an empty repository lists fine too.
            await foreach (var _ in repository.Store.ListAsync(prefix, delimited: true, cancellationToken))
                break;
            Add("list", CheckStatus.Ok, $"may list {repository.Store.Describe(prefix)}");
        }
        catch (StorageException e)
        {
            Add("list", CheckStatus.Fail, $"cannot list {repository.Store.Describe(prefix)}: {e.Message}. Grant s3:ListBucket on the bucket " +
                "(restricted to the prefix): without it S3 answers 403 instead of 404 for a missing WAL file, and fetch cannot tell the end of the archive", e.Class);
        }
    }

    private sealed record RepositoryManifestView(ulong SystemIdentifier);

    private async Task<RepositoryManifestView?> CheckManifestAsync(bool standby, CancellationToken cancellationToken)
    {
        string where = repository.Store.Describe(repository.Layout.ManifestKey);
        try
        {
            var manifest = await repository.ReadManifestAsync(cancellationToken);
            if (manifest is null)
            {
                if (standby)
                    Add("read", CheckStatus.Fail, $"{where} does not exist: nothing was ever archived here. Check --repo (bucket and prefix) against the primary's");
                else
                    Add("read", CheckStatus.Warn, $"{where} does not exist yet: the first push creates it and binds the repository to this cluster");
                return null;
            }
            Add("read", CheckStatus.Ok, $"read {where}: cluster {manifest.SystemIdentifier}, created {manifest.Created:u} by {manifest.CreatedBy}");
            return new RepositoryManifestView(manifest.SystemIdentifierValue);
        }
        catch (StorageException e)
        {
            Add("read", CheckStatus.Fail, $"cannot read {where}: {e.Message}" +
                (e.Class == ErrorClass.Auth ? ". Grant s3:GetObject on the prefix" : ""), e.Class);
            return null;
        }
    }

    private async Task CheckWriteAndDeleteAsync(CancellationToken cancellationToken)
    {
        string key = repository.Layout.CheckProbeKey($"{DateTime.UtcNow:yyyyMMddTHHmmss}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}");
        string where = repository.Store.Describe(key);
        using (var body = new Pipeline.PooledBuffer())
        {
            body.Write("walship check probe; safe to delete\n"u8);
            try
            {
                await repository.Store.PutIfAbsentAsync(key, body, new Dictionary<string, string>(), cancellationToken);
                Add("write", CheckStatus.Ok, $"wrote {where}");
            }
            catch (StorageException e)
            {
                Add("write", CheckStatus.Fail, $"cannot write {where}: {e.Message}" +
                    (e.Class == ErrorClass.Auth ? ". The primary's archive_command needs s3:PutObject on the prefix" : ""), e.Class);
                return;
            }
        }
        const string DeleteDenied = "s3:DeleteObject is denied. push never deletes, so archiving works; pruning old WAL needs it. Remove the probe object by hand";
        try
        {
            // The same batch delete prune uses: S3 answers a denied key inside a successful reply.
            var failures = await repository.Store.DeleteAsync([key], cancellationToken);
            if (failures.Count == 0)
                Add("delete", CheckStatus.Ok, $"deleted {where}");
            else if (failures[0].IsAccessDenied)
                Add("delete", CheckStatus.Warn, $"cannot delete {where}: {DeleteDenied}");
            else
                Add("delete", CheckStatus.Fail, $"cannot delete {where}: {failures[0].Code} {failures[0].Message}".TrimEnd());
        }
        catch (StorageException e) when (e.Class == ErrorClass.Auth)
        {
            Add("delete", CheckStatus.Warn, $"cannot delete {where}: {DeleteDenied}");
        }
        catch (StorageException e)
        {
            Add("delete", CheckStatus.Fail, $"cannot delete {where}: {e.Message}", e.Class);
        }
    }

    // ---------------------------------------------------------------- PostgreSQL

    /// <summary>What check needs to know of the server, from its files or from a connection.</summary>
    private sealed record ServerSettings(
        string Source, bool InRecovery, int? MajorVersion, Func<string, string?> Get, ServerRole? Role, bool RecoveryConfExists, string? DataDirectory);

    private async Task<ServerSettings?> ReadServerAsync(CancellationToken cancellationToken)
    {
        if (connectionString is not null)
        {
            try
            {
                await using var client = await PostgresClient.ConnectAsync(connectionString, cancellationToken);
                var values = new Dictionary<string, string?>();
                foreach (string name in new[] { "archive_mode", "archive_command", "archive_library", "restore_command", "wal_level", "server_version_num", "data_directory" })
                    values[name] = await client.ShowAsync(name, cancellationToken);
                bool inRecovery = await client.IsInRecoveryAsync(cancellationToken);
                string? dir = dataDirectory ?? values["data_directory"];
                var files = dir is not null && Directory.Exists(dir) ? new DataDirectory(dir) : null;
                int? major = int.TryParse(values["server_version_num"], out int number) ? number / 10000 : null;
                Add("postgresql", CheckStatus.Ok, $"connected to {client.Target}: PostgreSQL {major}, {(inRecovery ? "in recovery" : "primary")}");
                return new ServerSettings($"the server at {client.Target}", inRecovery, major, name => values.GetValueOrDefault(name),
                    files?.ReadRole(), files is not null && File.Exists(Path.Join(files.Path, "recovery.conf")), files?.Path);
            }
            catch (StorageException e)
            {
                Add("postgresql", CheckStatus.Fail, $"cannot connect to PostgreSQL: {e.Message}", e.Class);
                return null;
            }
        }
        if (dataDirectory is null)
            return null;
        var data = new DataDirectory(dataDirectory);
        try
        {
            data.EnsureExists();
            var config = data.ReadConfig();
            var role = data.ReadRole();
            int? major = int.TryParse(data.ReadMajorVersion(), out int version) ? version : null;
            Add("postgresql", CheckStatus.Ok, $"read {string.Join(", ", config.Files)}");
            return new ServerSettings(data.Path, role != ServerRole.Primary, major, config.Get, role,
                File.Exists(Path.Join(data.Path, "recovery.conf")), data.Path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PostgresConfigException)
        {
            Add("postgresql", CheckStatus.Fail, $"cannot read the configuration of {data.Path}: {e.Message}", ErrorClass.Local);
            return null;
        }
    }

    private void CheckSystemIdentifier(RepositoryManifestView? manifest, ServerSettings? settings)
    {
        string? dir = settings?.DataDirectory ?? dataDirectory;
        if (manifest is null || dir is null)
            return;
        if (PgControl.TryReadSystemIdentifier(dir) is not { } cluster)
        {
            Add("system-identifier", CheckStatus.Skip, $"cannot read {Path.Join(dir, "global", "pg_control")} to compare the cluster with the repository");
            return;
        }
        if (cluster == manifest.SystemIdentifier)
            Add("system-identifier", CheckStatus.Ok, $"this cluster ({cluster}) is the one the repository belongs to");
        else
            Add("system-identifier", CheckStatus.Fail, $"the repository belongs to cluster {manifest.SystemIdentifier}, but this cluster is {cluster}: " +
                "a standby must be a base backup (pg_basebackup) of the primary that archives there, and each primary needs its own --repo prefix",
                ErrorClass.Corrupt);
    }

    private void CheckVersion(ServerSettings settings)
    {
        if (settings.MajorVersion is < 12)
            Add("version", CheckStatus.Fail, $"PostgreSQL {settings.MajorVersion}: walship check covers PostgreSQL 12 and later (recovery.conf setups are not checked)");
    }

    private void CheckPrimarySettings(ServerSettings settings)
    {
        CheckVersion(settings);
        string archiveMode = settings.Get("archive_mode") ?? "off";
        if (archiveMode is "on" or "always")
            Add("archive_mode", CheckStatus.Ok, $"archive_mode = {archiveMode}");
        else
            Add("archive_mode", CheckStatus.Fail, $"archive_mode is {archiveMode} in {settings.Source}: set archive_mode = on (takes a restart)");

        string walLevel = settings.Get("wal_level") ?? "replica";
        if (walLevel == "minimal")
            Add("wal_level", CheckStatus.Fail, "wal_level = minimal: archiving and standbys need wal_level = replica (the default) or logical");

        if (settings.Get("archive_library") is { Length: > 0 } library)
            Add("archive_library", CheckStatus.Fail, $"archive_library = '{library}' is set, so PostgreSQL ignores archive_command: set archive_library = ''");

        CheckWalshipCommand("archive_command", settings.Get("archive_command"), "push", "%p", "%f", "");
    }

    private void CheckStandbySettings(ServerSettings settings)
    {
        CheckVersion(settings);
        if (settings.RecoveryConfExists)
            Add("recovery.conf", CheckStatus.Fail, "recovery.conf exists: PostgreSQL 12 and later refuse to start with it. Move its settings to postgresql.conf and create standby.signal");

        switch (settings.Role)
        {
            case ServerRole.Standby:
                Add("signal", CheckStatus.Ok, "standby.signal is present");
                break;
            case ServerRole.ArchiveRecovery:
                Add("signal", CheckStatus.Warn, "recovery.signal without standby.signal: the server replays the archive, then promotes itself at its end. For a standby, create standby.signal");
                break;
            case ServerRole.Primary:
                Add("signal", CheckStatus.Fail, $"no standby.signal in {settings.DataDirectory}: PostgreSQL 12 and later run as a standby only with it. Create an empty standby.signal");
                break;
            default:
                Add("signal", CheckStatus.Skip, "signal files not checked: the data directory is not readable from here");
                break;
        }

        CheckWalshipCommand("restore_command", settings.Get("restore_command"), "fetch", "%f", "%p", " in postgresql.conf (not recovery.conf)");
    }

    /// <summary>archive_command or restore_command: set, running walship, with the verb and placeholders in order.</summary>
    private void CheckWalshipCommand(string setting, string? value, string verb, string first, string second, string where)
    {
        string command = value is null or "(disabled)" ? "" : value;
        string wanted = $"{setting} = 'walship {verb} {first} {second}'";
        if (command.Length == 0)
            Add(setting, CheckStatus.Fail, $"{setting} is not set: set {wanted}{where}");
        else if (!command.Contains("walship", StringComparison.Ordinal))
            Add(setting, CheckStatus.Fail, $"{setting} = '{command}' does not run walship: set {wanted}");
        else if (!IsWalshipCall(command, verb, first, second))
            Add(setting, CheckStatus.Fail, $"{setting} = '{command}' is not 'walship {verb} {first} {second}': {verb} takes {first} then {second}");
        else
            Add(setting, CheckStatus.Ok, $"{setting} = '{command}'");
    }

    /// <summary>The command runs walship's <paramref name="verb"/> with the two placeholders in order.</summary>
    private static bool IsWalshipCall(string command, string verb, string first, string second)
    {
        string[] words = command.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        int at = Array.FindIndex(words, w => w == verb);
        return at >= 0 && words.Take(at).Any(w => w.EndsWith("walship", StringComparison.Ordinal))
               && words.Skip(at + 1).Where(w => w.StartsWith('%')).SequenceEqual([first, second]);
    }
}
