using System.Data.Common;
using Npgsql;
using WalShip.Storage;
using WalShip.Wal;

namespace WalShip.Commands.Postgres;

/// <summary>pg_stat_archiver: what the archiver has done since its statistics were last reset.</summary>
public sealed record ArchiverStats(
    long ArchivedCount,
    string? LastArchivedWal,
    DateTimeOffset? LastArchivedTime,
    long FailedCount,
    string? LastFailedWal,
    DateTimeOffset? LastFailedTime,
    DateTimeOffset? StatsReset);

/// <summary>
/// Where the server's WAL stands, read in one round trip. On a primary <see cref="CurrentLsn"/> and
/// <see cref="CurrentWalFile"/> are set; on a standby the receive/replay positions are.
/// </summary>
public sealed record ServerWalState(
    bool InRecovery,
    int ServerVersionNumber,
    uint WalSegmentSize,
    uint Timeline,
    Lsn? CurrentLsn,
    string? CurrentWalFile,
    Lsn? LastReceiveLsn,
    Lsn? LastReplayLsn,
    DateTimeOffset? LastReplayTime,
    DateTimeOffset ServerTime);

/// <summary>
/// A short-lived connection to PostgreSQL for status and checks: read-only catalogue queries and nothing else.
/// Built with Npgsql's slim data source, which keeps the native binary trimmed and free of reflection. A
/// connection that fails becomes a <see cref="StorageException"/> with one clear line: <see cref="ErrorClass.Auth"/>
/// for authentication, <see cref="ErrorClass.Config"/> for a wrong database or string, else transient.
/// </summary>
public sealed class PostgresClient : IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly NpgsqlConnection _connection;

    private PostgresClient(NpgsqlDataSource dataSource, NpgsqlConnection connection, string target)
    {
        _dataSource = dataSource;
        _connection = connection;
        Target = target;
    }

    /// <summary>host:port/database, for messages.</summary>
    public string Target { get; }

    /// <summary>Connects with <paramref name="connectionString"/> (libpq keyword/value, URI or Npgsql form).</summary>
    public static Task<PostgresClient> ConnectAsync(string connectionString, CancellationToken cancellationToken)
    {
        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = ConnectionInfo.Parse(connectionString);
        }
        catch (FormatException e)
        {
            throw new StorageException(ErrorClass.Usage, e.Message, e);
        }
        return ConnectAsync(builder, cancellationToken);
    }

    public static async Task<PostgresClient> ConnectAsync(NpgsqlConnectionStringBuilder builder, CancellationToken cancellationToken)
    {
        string target = ConnectionInfo.Describe(builder);
        var sourceBuilder = new NpgsqlSlimDataSourceBuilder(builder.ConnectionString);
        sourceBuilder.EnableTransportSecurity();
        var dataSource = sourceBuilder.Build();
        try
        {
            var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            return new PostgresClient(dataSource, connection, target);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException or IOException)
        {
            await dataSource.DisposeAsync();
            throw Describe(target, e);
        }
        catch
        {
            await dataSource.DisposeAsync();
            throw;
        }
    }

    /// <summary>The setting's value as SHOW prints it, or null for a setting the server does not know.</summary>
    public async Task<string?> ShowAsync(string name, CancellationToken cancellationToken)
    {
        await using var command = Command("SELECT current_setting($1, true)");
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = name });
        return await ScalarAsync(command, cancellationToken) as string;
    }

    public async Task<bool> IsInRecoveryAsync(CancellationToken cancellationToken)
    {
        await using var command = Command("SELECT pg_is_in_recovery()");
        return (bool)(await ScalarAsync(command, cancellationToken))!;
    }

    /// <summary>pg_walfile_name(lsn). Only a primary answers: the server refuses it during recovery.</summary>
    public async Task<string> WalFileNameAsync(Lsn lsn, CancellationToken cancellationToken)
    {
        await using var command = Command("SELECT pg_walfile_name($1::text::pg_lsn)");
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = lsn.ToString() });
        return (string)(await ScalarAsync(command, cancellationToken))!;
    }

    public async Task<ArchiverStats> ReadArchiverAsync(CancellationToken cancellationToken)
    {
        await using var command = Command(
            """
            SELECT archived_count, last_archived_wal, extract(epoch FROM last_archived_time)::float8,
                   failed_count, last_failed_wal, extract(epoch FROM last_failed_time)::float8,
                   extract(epoch FROM stats_reset)::float8
            FROM pg_stat_archiver
            """);
        await using var reader = await ReadAsync(command, cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
            throw new StorageException(ErrorClass.Transient, $"PostgreSQL at {Target}: pg_stat_archiver returned no row");
        return new ArchiverStats(
            reader.GetInt64(0), NullableString(reader, 1), Time(reader, 2),
            reader.GetInt64(3), NullableString(reader, 4), Time(reader, 5),
            Time(reader, 6));
    }

    /// <summary>Recovery state, segment size, timeline and WAL positions, in one query. The timeline of a
    /// standby is that of its latest restartpoint, as pg_control_checkpoint() reports it.</summary>
    public async Task<ServerWalState> ReadWalStateAsync(CancellationToken cancellationToken)
    {
        await using var command = Command(
            """
            SELECT pg_is_in_recovery(),
                   current_setting('server_version_num')::int,
                   (SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size'),
                   (SELECT timeline_id::bigint FROM pg_control_checkpoint()),
                   CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END,
                   CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END,
                   pg_last_wal_receive_lsn()::text,
                   pg_last_wal_replay_lsn()::text,
                   extract(epoch FROM pg_last_xact_replay_timestamp())::float8,
                   extract(epoch FROM now())::float8
            """);
        await using var reader = await ReadAsync(command, cancellationToken);
        await reader.ReadAsync(cancellationToken);
        string? currentWalFile = NullableString(reader, 5);
        uint timeline = (uint)reader.GetInt64(3);
        // On a primary the current segment's name carries the live timeline, which the checkpoint may not yet.
        if (currentWalFile is { Length: >= 8 } && uint.TryParse(currentWalFile.AsSpan(0, 8), System.Globalization.NumberStyles.AllowHexSpecifier, null, out uint live))
            timeline = live;
        return new ServerWalState(
            reader.GetBoolean(0),
            reader.GetInt32(1),
            (uint)reader.GetInt64(2),
            timeline,
            ParseLsn(NullableString(reader, 4)),
            currentWalFile,
            ParseLsn(NullableString(reader, 6)),
            ParseLsn(NullableString(reader, 7)),
            Time(reader, 8),
            Time(reader, 9) ?? DateTimeOffset.UtcNow);
    }

    public async ValueTask DisposeAsync()
    {
        await _connection.DisposeAsync();
        await _dataSource.DisposeAsync();
    }

    private NpgsqlCommand Command(string sql) => new(sql, _connection) { CommandTimeout = 30 };

    private async Task<object?> ScalarAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        try
        {
            var value = await command.ExecuteScalarAsync(cancellationToken);
            return value is DBNull ? null : value;
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or IOException)
        {
            throw Describe(Target, e);
        }
    }

    private async Task<DbDataReader> ReadAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        try
        {
            return await command.ExecuteReaderAsync(cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or IOException)
        {
            throw Describe(Target, e);
        }
    }

    private static string? NullableString(DbDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    private static DateTimeOffset? Time(DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Round(reader.GetDouble(ordinal) * 1000));

    private static Lsn? ParseLsn(string? text) => text is not null && Lsn.TryParse(text, out var lsn) ? lsn : null;

    /// <summary>One line saying what went wrong, classed so the exit code tells a DBA where to look.</summary>
    private static StorageException Describe(string target, Exception e)
    {
        if (e is PostgresException server)
        {
            var errorClass = server.SqlState switch
            {
                "28000" or "28P01" or "42501" => ErrorClass.Auth,
                "3D000" or "42704" or "42883" => ErrorClass.Config,
                _ => ErrorClass.Transient,
            };
            return new StorageException(errorClass, $"PostgreSQL at {target}: {server.MessageText} (SQLSTATE {server.SqlState})", e);
        }
        string message = e.InnerException is { } inner && !e.Message.Contains(inner.Message, StringComparison.Ordinal)
            ? $"{e.Message}: {inner.Message}"
            : e.Message;
        return new StorageException(ErrorClass.Transient, $"PostgreSQL at {target}: {message}", e);
    }
}
