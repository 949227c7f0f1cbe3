#Requires -Version 5.1
<#
.SYNOPSIS
    Reconciles a drifted PostgreSQL database with its Django migrations in one run and returns
    the run's report.

.DESCRIPTION
    Runs `pgreconcile reconcile`: maintenance-window guard, verified backup, inspection,
    migration preflight, plan, online apply, `manage.py migrate`, verification, and a report
    (report.json, plus report.md and report.html where the report renderer is installed).
    When apply, migrate or verify fails, the run is rolled back (the finished steps are undone
    with their reverse SQL, or with -Rollback restore the backup is restored into a new
    database) and the report says what happened.

    Every run writes into its own folder, <ReportDir>\<Database>-<UTC stamp>, so earlier
    reports are kept and the report of a failed run can always be found.

    With -Check or -WhatIf nothing changes and no backup is taken: pgreconcile inspects,
    runs the preflight and plans (--dry-run), and the plan is returned.

    Reconciling changes a live schema, so a run that may change it is ConfirmImpact High:
    ShouldProcess asks first, unless -Confirm:$false or -Force (-Check and -WhatIf change
    nothing and never ask).

    The password of -Credential (or of the file named by -CredentialPath) reaches pgreconcile
    only through PGPASSWORD for that one process; it never appears on a command line.
    Without either, libpq's own sources apply (PGUSER, PGPASSWORD,
    %APPDATA%\postgresql\pgpass.conf).

.PARAMETER Database
    The database to reconcile (a PostgreSQL identifier, up to 63 characters).

.PARAMETER SqlInstance
    Host name or IP address of the PostgreSQL server. Defaults to localhost.

.PARAMETER Port
    TCP port of the server. Defaults to 5432.

.PARAMETER Credential
    User name and password for PostgreSQL, e.g. (Get-Credential postgres). The password only
    reaches pgreconcile through its environment.

.PARAMETER CredentialPath
    A PostgreSQL credential saved with `Get-Credential | Export-Clixml -Path <file>` by the
    account that runs this script (DPAPI: only that account on that computer can read it).
    For unattended runs; see Register-MaintenanceTask.ps1.

.PARAMETER ProjectDir
    The Django project: the directory holding manage.py.

.PARAMETER Settings
    The Django settings module, e.g. pettycash_system.settings. Defaults to the project's own
    (DJANGO_SETTINGS_MODULE in manage.py).

.PARAMETER Python
    The project's Python interpreter, e.g. D:\pettycash\.venv\Scripts\python.exe. Defaults to
    the one pgreconcile runs with.

.PARAMETER PkStrategy
    keep (default): keep the old integer key and add the new uuid column beside it, without
    rewriting the table. swap: make the uuid the primary key (destructive: needs
    -AllowDestructive).

.PARAMETER Backfill
    How new uuid values are filled: stable (default, derived from table and id, the same on
    every run) or random.

.PARAMETER DropExtra
    Drop what only the live database has (tables, columns, indexes, views, triggers, ...)
    instead of keeping and reporting it (--drop-extra). Destructive: needs -AllowDestructive,
    except with -Check or -WhatIf, which only show the drops.

.PARAMETER AllowDestructive
    Allow steps that drop or rewrite (e.g. -PkStrategy swap, -DropExtra). A verified backup is
    taken first. The run asks first like any run that may change the schema.

.PARAMETER Check
    Inspect, preflight and plan only (--dry-run), like -WhatIf: no backup, no change. Returns
    the plan.

.PARAMETER BackupDir
    Directory that receives the verified backup taken before anything changes. Defaults to
    .\backups.

.PARAMETER Keep
    Keep only the newest N verified backups of this database in -BackupDir (pgreconcile's
    default is 7).

.PARAMETER NoBackup
    Do not take a backup. Not advised: a rollback can then only undo finished steps.

.PARAMETER NoTestRestore
    Do not prove the backup by restoring it into a scratch database (faster, less proof).

.PARAMETER ReportDir
    Directory under which each run gets its own report folder. Defaults to .\reports.

.PARAMETER MaintenanceWindow
    When changes are allowed, e.g. 'Sat 01:00-03:00 UTC' or 'Mon-Fri 22:00-23:30 Europe/Berlin'.
    Several windows may be given (as several values or separated by ';'). They are checked
    first with `pgreconcile window`, so the engine's grammar decides what is valid. Outside
    them the run is refused (exit code 4) before anything changes; a backfill that would run
    past the end pauses and resumes in the next run. -Check works at any time.

.PARAMETER RunTests
    Also run `manage.py test` as part of verification.

.PARAMETER TestSettings
    Settings module for the tests, e.g. staging_settings.

.PARAMETER LockTimeout
    lock_timeout for each statement, e.g. 2s (default) or 500ms. A step whose lock is busy is
    retried with backoff and never queues in front of the application's writers for longer.

.PARAMETER BatchSize
    Rows per backfill batch (pgreconcile's default is 5000).

.PARAMETER BatchDelay
    Seconds to pause between backfill batches, to leave room for the application, e.g. 0.5
    (always with a dot, whatever the culture).

.PARAMETER Rollback
    What to do when apply, migrate or verify fails: reverse (default) undoes the finished steps
    with their reverse SQL; restore restores the backup into a new database and explains how
    to switch to it.

.PARAMETER LogDir
    Write a transcript of this run to <LogDir>\<Database>-<UTC stamp>.log. Used by the
    scheduled task of Register-MaintenanceTask.ps1.

.PARAMETER Force
    Do not ask for confirmation (for scheduled, non-interactive runs). It does not imply
    -AllowDestructive, and -Confirm or -WhatIf given with it still win.

.PARAMETER PgBinDir
    Directory holding pg_dump and pg_restore to prefer, e.g. 'C:\Program Files\PostgreSQL\17\bin'.

.PARAMETER PgReconcile
    The pgreconcile executable: a name on PATH (default) or a full path.

.PARAMETER WhatIf
    Same as -Check: inspects, preflights and plans; changes nothing.

.PARAMETER Confirm
    Asks before reconciling. Always asked with -AllowDestructive unless -Confirm:$false or -Force.

.OUTPUTS
    PgReconcile.Report: the run's report.json (tool, database, ok, changed, stages, backup,
    preflight_before, diff_before, plan, apply, migrate, verify, diff_after, rollback, ...)
    with report_path, the full path of report.json, added.
    With -Check or -WhatIf, PgReconcile.ReconcilePlan: the dry run's report (plan with its
    steps, diff_before, preflight_before, preflight_after) with report_path.

.NOTES
    Thin wrapper: every decision is made by `pgreconcile reconcile`. Exit codes of the CLI
    become terminating errors carrying its message and hint: 1 error, 2 usage, 3 verification
    failed (the run was rolled back), 4 refused (outside the maintenance window, or the plan
    cannot be applied safely; nothing was changed).

    The error is terminating also for exit code 3, and the failed run's report is attached:
    $_.Exception.Data.ExitCode holds the code, .Hint the hint, .Document the CLI's error
    document, .ReportPath the full path of the run's report.json and .Report its content
    (PgReconcile.Report, with the rollback section). ReportPath and Report are absent only
    when pgreconcile stopped before it could write a report (e.g. a usage error).

.EXAMPLE
    PS C:\> .\Invoke-Reconcile.ps1 -Database pettycash -ProjectDir D:\src\pettycash -Check

    Shows what a run would do to pettycash on localhost: the differences, the failing
    migration preflight and the plan's steps. Changes nothing.

.EXAMPLE
    PS C:\> $cred = Get-Credential postgres
    PS C:\> .\Invoke-Reconcile.ps1 -SqlInstance db01.example.com -Database pettycash -Credential $cred -ProjectDir D:\src\pettycash -Python D:\src\pettycash\.venv\Scripts\python.exe -BackupDir D:\backups -ReportDir D:\reports -RunTests -TestSettings staging_settings

    Backs up, reconciles, migrates and verifies pettycash on db01, including the project's
    tests, and returns the report.

.EXAMPLE
    PS C:\> .\Invoke-Reconcile.ps1 -Database pettycash -ProjectDir D:\src\pettycash -PkStrategy swap -AllowDestructive -BackupDir D:\backups -Rollback restore

    Makes the new uuid column the primary key (asks first, as the step rewrites the table).
    If verification fails, the backup is restored into a new database.

.EXAMPLE
    PS C:\> .\Invoke-Reconcile.ps1 -Database pettycash -ProjectDir D:\src\pettycash -DropExtra -AllowDestructive -BackupDir D:\backups

    Converges exactly: also drops the tables, columns, indexes and views only the database
    has (asks first). Without -AllowDestructive pgreconcile refuses with exit code 2.

.EXAMPLE
    PS C:\> .\Invoke-Reconcile.ps1 -Database pettycash -ProjectDir D:\src\pettycash -MaintenanceWindow 'Sat 01:00-03:00 UTC' -BatchSize 5000 -BatchDelay 0.5 -LockTimeout 1s

    Reconciles only inside the Saturday window, backfilling in gentle batches; outside the
    window it refuses with exit code 4 and changes nothing.

.EXAMPLE
    PS C:\> .\Invoke-Reconcile.ps1 -Database pettycash -CredentialPath D:\pgreconcile\pettycash.credential.xml -ProjectDir D:\src\pettycash -BackupDir D:\backups -LogDir D:\logs -MaintenanceWindow 'Sat 01:00-03:00 UTC' -Force

    An unattended run, as the scheduled task runs it: the password comes from a DPAPI-protected
    file, a transcript goes to D:\logs, and nothing is asked.

.EXAMPLE
    PS C:\> try { .\Invoke-Reconcile.ps1 -Database pettycash -ProjectDir D:\src\pettycash } catch { $_.Exception.Data.ExitCode; $_.Exception.Data.Report.rollback }

    When verification fails, shows the exit code (3) and how the run was rolled back.
#>
[CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High', DefaultParameterSetName = 'Credential')]
[OutputType('PgReconcile.Report', 'PgReconcile.ReconcilePlan')]
param(
    [Parameter(Mandatory)]
    [ValidatePattern('^[A-Za-z_][A-Za-z0-9_$]{0,62}$')]
    [string]$Database,

    [Alias('Server', 'HostName')]
    [ValidatePattern('^(?:[A-Za-z0-9_.:%\[\]-]{1,253}|(?:[A-Za-z]:)?[\\/][^"\x00-\x1F\x7F]{0,250})$(?!\n)')]
    [string]$SqlInstance = 'localhost',

    [ValidateRange(1, 65535)]
    [int]$Port = 5432,

    [Parameter(ParameterSetName = 'Credential')]
    [System.Management.Automation.PSCredential]
    [System.Management.Automation.Credential()]
    $Credential = [System.Management.Automation.PSCredential]::Empty,

    [Parameter(Mandatory, ParameterSetName = 'CredentialFile')]
    [ValidateScript({ Test-Path -LiteralPath $_ -PathType Leaf })]
    [string]$CredentialPath,

    [Parameter(Mandatory)]
    [ValidateScript({ Test-Path -LiteralPath (Join-Path -Path $_ -ChildPath 'manage.py') -PathType Leaf })]
    [string]$ProjectDir,

    [ValidatePattern('^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$')]
    [string]$Settings,

    [ValidateNotNullOrEmpty()]
    [string]$Python,

    [ValidateSet('keep', 'swap')]
    [string]$PkStrategy = 'keep',

    [ValidateSet('stable', 'random')]
    [string]$Backfill = 'stable',

    [switch]$DropExtra,

    [switch]$AllowDestructive,

    [switch]$Check,

    [ValidateNotNullOrEmpty()]
    [string]$BackupDir = 'backups',

    [ValidateRange(1, 100000)]
    [int]$Keep,

    [switch]$NoBackup,

    [switch]$NoTestRestore,

    [ValidateNotNullOrEmpty()]
    [string]$ReportDir = 'reports',

    # Checked by `pgreconcile window` (Assert-PgReconcileWindow): no grammar of our own.
    [ValidateNotNullOrEmpty()]
    [string[]]$MaintenanceWindow,

    [switch]$RunTests,

    [ValidatePattern('^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$')]
    [string]$TestSettings,

    [ValidatePattern('^[0-9]+\s*(ms|s|min|h)?$')]
    [string]$LockTimeout,

    [ValidateRange(1, 10000000)]
    [int]$BatchSize,

    [ValidatePattern('^[0-9]{1,4}(\.[0-9]+)?$')]
    [string]$BatchDelay,

    [ValidateSet('reverse', 'restore')]
    [string]$Rollback = 'reverse',

    [ValidateNotNullOrEmpty()]
    [string]$LogDir,

    [switch]$Force,

    [ValidateScript({ Test-Path -LiteralPath $_ -PathType Container })]
    [string]$PgBinDir,

    [ValidateNotNullOrEmpty()]
    [string]$PgReconcile = 'pgreconcile'
)

$ErrorActionPreference = 'Stop'
. (Join-Path -Path $PSScriptRoot -ChildPath 'PgReconcile.Common.ps1')

# pgreconcile's own grammar decides what a window is: one it cannot read stops the run here,
# with the engine's message and hint, before a transcript, a backup or a connection.
if ($PSBoundParameters.ContainsKey('MaintenanceWindow')) {
    $null = Assert-PgReconcileWindow -Window $MaintenanceWindow -CliPath $PgReconcile
}

if ($PSCmdlet.ParameterSetName -eq 'CredentialFile') {
    $Credential = Import-PgReconcileCredential -Path $CredentialPath
}

# A run that may change the schema is ConfirmImpact High: ShouldProcess asks, unless
# -Confirm:$false, or -Force (for unattended runs) without -Confirm and without -WhatIf.
$skipPrompt = $Force -and -not $WhatIfPreference -and -not $PSBoundParameters.ContainsKey('Confirm')

$stamp = Get-PgReconcileStamp
$connInfo = ConvertTo-PgConnInfo -Server $SqlInstance -Port $Port -Database $Database
$projectPath = Resolve-PgReconcilePath -Path $ProjectDir
$backupPath = Resolve-PgReconcilePath -Path $BackupDir
# One folder per run: reports of earlier runs are kept, and a failed run's report is found.
$reportPath = Join-Path -Path (Resolve-PgReconcilePath -Path $ReportDir) -ChildPath ($Database + '-' + $stamp)
$reportFile = Join-Path -Path $reportPath -ChildPath 'report.json'

$transcript = $null
if ($LogDir) {
    $logPath = Resolve-PgReconcilePath -Path $LogDir
    # Logging is not a change to the database: write it also under -WhatIf.
    $null = New-Item -ItemType Directory -Path $logPath -Force -WhatIf:$false -Confirm:$false
    $transcript = Join-Path -Path $logPath -ChildPath ($Database + '-' + $stamp + '.log')
    $null = Start-Transcript -LiteralPath $transcript -WhatIf:$false -Confirm:$false
}

try {
    $cliArgs = @('reconcile', '--dsn', $connInfo, '--project-dir', $projectPath,
        '--out-dir', $backupPath, '--report-dir', $reportPath,
        '--pk-strategy', $PkStrategy, '--backfill', $Backfill, '--rollback', $Rollback)
    if ($PSBoundParameters.ContainsKey('Settings')) { $cliArgs += @('--settings', $Settings) }
    if ($PSBoundParameters.ContainsKey('Python')) {
        $pythonPath = $Python
        if (Test-Path -LiteralPath $Python -PathType Leaf) { $pythonPath = Resolve-PgReconcilePath -Path $Python }
        $cliArgs += @('--python', $pythonPath)
    }
    if ($DropExtra) { $cliArgs += '--drop-extra' }
    if ($AllowDestructive) { $cliArgs += '--allow-destructive' }
    if ($PSBoundParameters.ContainsKey('Keep')) { $cliArgs += @('--keep', $Keep) }
    if ($NoBackup) { $cliArgs += '--no-backup' }
    if ($NoTestRestore) { $cliArgs += '--no-test-restore' }
    if ($PSBoundParameters.ContainsKey('MaintenanceWindow')) {
        $cliArgs += @('--maintenance-window', ($MaintenanceWindow -join '; '))
    }
    if ($RunTests) { $cliArgs += '--run-tests' }
    if ($PSBoundParameters.ContainsKey('TestSettings')) { $cliArgs += @('--test-settings', $TestSettings) }
    if ($PSBoundParameters.ContainsKey('LockTimeout')) { $cliArgs += @('--lock-timeout', $LockTimeout) }
    if ($PSBoundParameters.ContainsKey('BatchSize')) { $cliArgs += @('--batch-size', $BatchSize) }
    if ($PSBoundParameters.ContainsKey('BatchDelay')) { $cliArgs += @('--batch-delay', $BatchDelay) }
    if ($PSBoundParameters.ContainsKey('PgBinDir')) { $cliArgs += @('--pg-bin-dir', $PgBinDir) }

    $target = "database '$Database' on ${SqlInstance}:$Port"
    $action = "Reconcile with the migrations of $projectPath (back up to $backupPath first)"
    if ($NoBackup) { $action = "Reconcile with the migrations of $projectPath WITHOUT a backup" }
    if ($DropExtra) { $action = "$action, dropping what only the database has" }
    if ($AllowDestructive) { $action = "$action, allowing steps that drop or rewrite" }

    if ($Check) {
        $cliArgs += '--dry-run'
        $typeName = 'PgReconcile.ReconcilePlan'
    }
    elseif ($skipPrompt -or $PSCmdlet.ShouldProcess($target, $action)) {
        $typeName = 'PgReconcile.Report'
    }
    elseif ($WhatIfPreference) {
        $cliArgs += '--dry-run'
        $typeName = 'PgReconcile.ReconcilePlan'
    }
    else {
        return
    }

    try {
        $report = Invoke-PgReconcileCli -Arguments $cliArgs -Credential $Credential -CliPath $PgReconcile -TypeName $typeName
    }
    catch {
        # Exit 3 (verification failed, rolled back), 4 (refused) and 1 all leave a report.json
        # in this run's folder: attach it, then rethrow the CLI's error as it is.
        $failure = $_
        if (Test-Path -LiteralPath $reportFile -PathType Leaf) {
            $failedReport = Get-Content -LiteralPath $reportFile -Raw | ConvertFrom-Json
            $failedReport.PSObject.TypeNames.Insert(0, 'PgReconcile.Report')
            $failure.Exception.Data['ReportPath'] = $reportFile
            $failure.Exception.Data['Report'] = $failedReport
        }
        $PSCmdlet.ThrowTerminatingError($failure)
    }
    Add-Member -InputObject $report -NotePropertyName 'report_path' -NotePropertyValue $reportFile -Force
    $report
}
finally {
    if ($transcript) {
        $null = Stop-Transcript
    }
}
