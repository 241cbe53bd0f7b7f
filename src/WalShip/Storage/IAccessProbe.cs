namespace WalShip.Storage;

/// <summary>
/// What `walship check` asks a store beyond push and fetch: may this identity list the repository, and
/// delete what it wrote. Failures are <see cref="StorageException"/>s classified like every other call.
/// </summary>
public interface IAccessProbe
{
    /// <summary>Lists at most one key under <paramref name="prefix"/>; returns how many it saw (0 or 1).</summary>
    Task<int> ProbeListAsync(string prefix, CancellationToken cancellationToken);

    /// <summary>Deletes one object this check wrote.</summary>
    Task ProbeDeleteAsync(string key, CancellationToken cancellationToken);
}
