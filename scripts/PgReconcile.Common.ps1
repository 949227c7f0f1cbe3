#Requires -Version 5.1
<#
.SYNOPSIS
    Shared plumbing for the pgreconcile PowerShell wrappers. Dot-source it; do not run it.

.DESCRIPTION
    Every wrapper in this folder (Backup-Db.ps1, Restore-Db.ps1, Invoke-Reconcile.ps1, ...)
    validates its parameters, builds an argument list and hands it to Invoke-PgReconcileCli,
    which is the one place that:

      * finds the pgreconcile executable,
      * refuses a value Windows PowerShell 5.1 would not pass intact (Assert-PgReconcileCliArgument:
        a double quote, a control character, an empty value, a trailing backslash after a space),
      * puts the user name and password of a PSCredential into PGUSER/PGPASSWORD for the
        child process only, and restores the previous environment afterwards,
      * runs the CLI with --json and turns its one JSON document into an object,
      * turns a non-zero exit code into a terminating error carrying the CLI's message
        and hint.

    Connection coordinates (host, port, database) travel as a libpq key=value string in
    --dsn; a password never appears on a command line.

    Maintenance windows are checked by Assert-PgReconcileWindow, which asks
    `pgreconcile window`: the scripts carry no window grammar of their own.

.NOTES
    The engine and all decisions live in the Python package; these functions only adapt.
#>

function Resolve-PgReconcileCli {
    <#
    .SYNOPSIS
        Returns the full path of the pgreconcile executable.

    .PARAMETER Path
        A command name found on PATH (default 'pgreconcile') or a path to the executable,
        for example C:\tools\pgreconcile\Scripts\pgreconcile.exe.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [ValidateNotNullOrEmpty()]
        [string]$Path = 'pgreconcile'
    )

    $command = Get-Command -Name $Path -CommandType Application -ErrorAction SilentlyContinue |
        Select-Object -First 1
    if (-not $command) {
        $exception = [System.Management.Automation.CommandNotFoundException]::new(
            "pgreconcile was not found as '$Path'. Install it (pip install pgreconcile) " +
            "or pass -PgReconcile with the full path to pgreconcile.exe.")
        $record = [System.Management.Automation.ErrorRecord]::new($exception,
            'PgReconcile.CliNotFound', [System.Management.Automation.ErrorCategory]::ObjectNotFound,
            $Path)
        $PSCmdlet.ThrowTerminatingError($record)
    }
    $command.Source
}

function Resolve-PgReconcilePath {
    <#
    .SYNOPSIS
        Turns a PowerShell path into the full file-system path pgreconcile should get.

    .DESCRIPTION
        Resolves relative paths, ~ and PowerShell drives against the current location (the
        CLI knows nothing of PowerShell drives), and drops trailing separators: Windows
        PowerShell wraps an argument with spaces in double quotes, and a trailing backslash
        would escape the closing quote ('D:\My Backups\' must reach the CLI intact).

    .PARAMETER Path
        The path as the user typed it; it need not exist yet.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory)]
        [ValidateNotNullOrEmpty()]
        [string]$Path
    )

    $PSCmdlet.GetUnresolvedProviderPathFromPSPath($Path) -replace '(?<=[^:\\/])[\\/]+$', ''
}

function ConvertTo-PgConnInfo {
    <#
    .SYNOPSIS
        Builds a libpq key=value connection string without a password.

    .DESCRIPTION
        Values are single-quoted with backslash and quote escaped as libpq requires, so a
        host or database name cannot inject another key. User name and password are not
        part of it: Invoke-PgReconcileCli passes them through the environment.

    .PARAMETER Server
        Host name, IP address or socket directory.

    .PARAMETER Port
        TCP port.

    .PARAMETER Database
        Database name; omitted when empty.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory)]
        [ValidateNotNullOrEmpty()]
        [string]$Server,

        [ValidateRange(1, 65535)]
        [int]$Port = 5432,

        [string]$Database
    )

    $pairs = [ordered]@{ host = $Server; port = [string]$Port }
    if ($Database) { $pairs['dbname'] = $Database }
    $parts = foreach ($key in $pairs.Keys) {
        $value = $pairs[$key] -replace '\\', '\\' -replace "'", "\'"
        "$key='$value'"
    }
    $parts -join ' '
}

function Assert-PgReconcileCliArgument {
    <#
    .SYNOPSIS
        Refuses a value that Windows PowerShell 5.1 would not pass to a native program intact.

    .DESCRIPTION
        Windows PowerShell 5.1 builds a native program's command line itself and gets it
        wrong in known ways (PowerShell 7.3 fixed them with $PSNativeCommandArgumentPassing):

          * an embedded double quote is not escaped, so 'db01" --drop-extra "x' reaches
            the program as three arguments, one of them an option nobody typed;
          * a value with a space is wrapped in double quotes, but a trailing backslash is
            not doubled, so it escapes the closing quote and swallows the next argument;
          * an empty value is dropped, so the next argument takes its place.

        Control characters (a line break, a tab, NUL) have no place in a host name, a path,
        a window or a setting either. Every argument that reaches the CLI passes through
        here (Invoke-PgReconcileCli calls it; Register-MaintenanceTask.ps1 calls it on the
        values the scheduled run will pass), so a refused value is a terminating error
        before anything runs, naming the value and why, in every PowerShell version.

    .PARAMETER Argument
        The arguments, in order.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]
        [AllowEmptyString()]
        [AllowEmptyCollection()]
        [string[]]$Argument
    )

    foreach ($value in $Argument) {
        $reason = $null
        if ($value -eq '') {
            $reason = 'it is empty (Windows PowerShell 5.1 drops an empty argument, so the next one would take its place)'
        }
        elseif ($value -match '"') {
            $reason = 'it holds a double quote (Windows PowerShell 5.1 does not escape it, so the value would split into several arguments)'
        }
        elseif ($value -match '[\x00-\x1F\x7F]') {
            $reason = 'it holds a control character (a line break, tab or NUL)'
        }
        elseif ($value -match '\s' -and $value -match '\\$') {
            $reason = 'it holds a space and ends with a backslash (Windows PowerShell 5.1 would let the backslash escape its closing quote); drop the trailing backslash'
        }
        if ($reason) {
            $shown = $value -replace '[\x00-\x1F\x7F]', '?'
            $exception = [System.ArgumentException]::new(
                "Refusing to pass '$shown' to pgreconcile: $reason. Nothing was run.", 'Argument')
            $record = [System.Management.Automation.ErrorRecord]::new($exception,
                'PgReconcile.UnsafeArgument', [System.Management.Automation.ErrorCategory]::InvalidArgument,
                $shown)
            $PSCmdlet.ThrowTerminatingError($record)
        }
    }
}

function Invoke-PgReconcileCli {
    <#
    .SYNOPSIS
        Runs one pgreconcile command with --json and returns its result as an object.

    .DESCRIPTION
        The password of -Credential goes only into $env:PGPASSWORD (and the user name into
        $env:PGUSER) for the duration of the call; both are put back as they were in a
        finally block, also when the call fails or is interrupted.

        On exit code 0 the JSON document on stdout is returned with -TypeName inserted as
        its first type name. On exit code 5 (paused at the maintenance window's end, to be
        resumed by the next run; not a failure) a warning is written and the CLI's document is
        returned with the type name PgReconcile.Paused. On any other exit code (1 error,
        2 usage, 3 drift or failed verification, 4 refused) a terminating error is thrown whose message is the CLI's
        message and hint. The exception's Data carries what a caller needs to act on it:

          ExitCode  the CLI's exit code
          Hint      the CLI's hint ('' when none)
          Document  the CLI's parsed JSON error document ($null when it printed none)

        The error is always terminating, also for exit code 3: a caller that has more to
        say (Invoke-Reconcile.ps1 adds the path and content of the run's report.json)
        catches it, adds to $_.Exception.Data and rethrows the same record with
        $PSCmdlet.ThrowTerminatingError($_), so message, hint and exit code are kept.

    .PARAMETER Arguments
        The command and its options, without --json (added here).

    .PARAMETER Credential
        User name and password for PostgreSQL. Omit it to let libpq use PGUSER, PGPASSWORD
        or %APPDATA%\postgresql\pgpass.conf.

    .PARAMETER CliPath
        Command name or path of the pgreconcile executable.

    .PARAMETER TypeName
        PSTypeName given to the returned object, e.g. PgReconcile.Backup.

    .OUTPUTS
        PSCustomObject: the CLI's JSON document.
    #>
    [CmdletBinding()]
    [OutputType([pscustomobject])]
    param(
        [Parameter(Mandatory)]
        [ValidateNotNullOrEmpty()]
        [string[]]$Arguments,

        [System.Management.Automation.PSCredential]
        [System.Management.Automation.Credential()]
        $Credential = [System.Management.Automation.PSCredential]::Empty,

        [ValidateNotNullOrEmpty()]
        [string]$CliPath = 'pgreconcile',

        [string]$TypeName
    )

    $exe = Resolve-PgReconcileCli -Path $CliPath
    # Before the password enters the environment: a value PowerShell 5.1 would split stops here.
    Assert-PgReconcileCliArgument -Argument $Arguments
    $saved = @{}
    foreach ($name in 'PGUSER', 'PGPASSWORD') {
        $saved[$name] = [System.Environment]::GetEnvironmentVariable($name)
    }
    # PowerShell 7.3+ would otherwise throw on a non-zero exit code before the JSON is read.
    $PSNativeCommandUseErrorActionPreference = $false
    try {
        if ($Credential -ne [System.Management.Automation.PSCredential]::Empty) {
            $env:PGUSER = $Credential.UserName
            $env:PGPASSWORD = $Credential.GetNetworkCredential().Password
        }
        Write-Verbose -Message ("{0} {1} --json" -f $exe, ($Arguments -join ' '))
        # Windows PowerShell 5.1 turns stderr lines into errors under 'Stop' (ISE, remoting);
        # the exit code and the JSON document decide success, so stderr just passes through.
        $stdout = & { $ErrorActionPreference = 'Continue'; & $exe @Arguments '--json' }
        $exitCode = $LASTEXITCODE
    }
    finally {
        # [Environment] rather than Remove-Item: under -WhatIf, Remove-Item would only pretend.
        foreach ($name in $saved.Keys) {
            [System.Environment]::SetEnvironmentVariable($name, $saved[$name])
        }
    }

    # The CLI writes ASCII-only JSON (non-ASCII is \u-escaped), so the console code page
    # cannot garble paths.
    $text = ($stdout | Out-String).Trim()
    $document = $null
    if ($text) {
        try {
            $document = $text | ConvertFrom-Json
        }
        catch {
            $document = $null
        }
    }

    if ($exitCode -eq 5 -and $document -and $document.message) {
        # Paused at the maintenance window's end: not a failure. What was done stays done and
        # the next run resumes it, so this is a warning and the CLI's document is returned.
        Write-Warning -Message ("pgreconcile $($Arguments[0]) paused: {0} (hint: {1})" -f $document.message, $document.hint)
        $document.PSObject.TypeNames.Insert(0, 'PgReconcile.Paused')
        return $document
    }

    if ($exitCode -ne 0) {
        $kind = 'Error'
        $message = "pgreconcile $($Arguments[0]) failed with exit code $exitCode and wrote no JSON error; see the lines above."
        $hint = ''
        if ($document -and $document.message) {
            $kind = $document.error
            $message = $document.message
            $hint = $document.hint
        }
        $category = switch ($exitCode) {
            2 { [System.Management.Automation.ErrorCategory]::InvalidArgument }
            3 { [System.Management.Automation.ErrorCategory]::InvalidResult }
            4 { [System.Management.Automation.ErrorCategory]::PermissionDenied }
            default { [System.Management.Automation.ErrorCategory]::NotSpecified }
        }
        $errorText = if ($hint) { "$message`nhint: $hint" } else { $message }
        $exception = [System.InvalidOperationException]::new($errorText)
        $exception.Data['ExitCode'] = $exitCode
        $exception.Data['Hint'] = $hint
        $exception.Data['Document'] = $document
        $record = [System.Management.Automation.ErrorRecord]::new(
            $exception, "PgReconcile.$kind", $category, $Arguments[0])
        if ($hint) {
            $record.ErrorDetails = [System.Management.Automation.ErrorDetails]::new($errorText)
            $record.ErrorDetails.RecommendedAction = $hint
        }
        $PSCmdlet.ThrowTerminatingError($record)
    }

    if (-not $document) {
        $exception = [System.InvalidOperationException]::new(
            "pgreconcile $($Arguments[0]) exited 0 but did not print a JSON document.")
        $record = [System.Management.Automation.ErrorRecord]::new(
            $exception, 'PgReconcile.NoJson', [System.Management.Automation.ErrorCategory]::InvalidResult,
            $Arguments[0])
        $PSCmdlet.ThrowTerminatingError($record)
    }
    if ($TypeName) {
        $document.PSObject.TypeNames.Insert(0, $TypeName)
    }
    $document
}

function Assert-PgReconcileWindow {
    <#
    .SYNOPSIS
        Checks maintenance windows with pgreconcile's own grammar and returns what it says.

    .DESCRIPTION
        Runs `pgreconcile window <windows> --json` with the windows joined by '; '. The engine
        decides what a window is (days, times, time zone, length), so a window these scripts
        accept is exactly one the engine accepts. A window it cannot read is a terminating
        error (exit code 2) with the engine's message and hint, raised before anything
        changes; so is text that holds no window at all (blank, or only ';'). A valid window
        returns its facts, whether it is open now or not.

    .PARAMETER Window
        One or more windows, e.g. 'Sat 01:00-03:00 UTC' or 'Mon-Fri 22:00-23:30 Europe/Berlin'.

    .PARAMETER CliPath
        Command name or path of the pgreconcile executable.

    .OUTPUTS
        PgReconcile.MaintenanceWindow: set, open, windows, now, closes_at, next_opening,
        message.
    #>
    [CmdletBinding()]
    [OutputType('PgReconcile.MaintenanceWindow')]
    param(
        [Parameter(Mandatory)]
        [ValidateNotNullOrEmpty()]
        [string[]]$Window,

        [ValidateNotNullOrEmpty()]
        [string]$CliPath = 'pgreconcile'
    )

    $cliArgs = @('window', ($Window -join '; '))
    $status = Invoke-PgReconcileCli -Arguments $cliArgs -CliPath $CliPath -TypeName 'PgReconcile.MaintenanceWindow'
    if (-not $status.set) {
        # Blank text is "no window" to the engine; a caller that passed one meant a window.
        $exception = [System.ArgumentException]::new(
            "No maintenance window in '$($Window -join '; ')'; write one like 'Sat 01:00-03:00 UTC'.", 'Window')
        $record = [System.Management.Automation.ErrorRecord]::new($exception,
            'PgReconcile.NoWindow', [System.Management.Automation.ErrorCategory]::InvalidArgument,
            $Window)
        $PSCmdlet.ThrowTerminatingError($record)
    }
    $status
}

function Get-PgReconcileStamp {
    <#
    .SYNOPSIS
        The current UTC time as a compact, sortable stamp for file and folder names.

    .DESCRIPTION
        Format yyyyMMddTHHmmssZ, e.g. 20250104T010000Z: the same in every culture and time
        zone, free of characters Windows forbids in names, and sorting in time order.

    .OUTPUTS
        System.String
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param()

    [datetime]::UtcNow.ToString("yyyyMMdd'T'HHmmss'Z'", [System.Globalization.CultureInfo]::InvariantCulture)
}

function Import-PgReconcileCredential {
    <#
    .SYNOPSIS
        Reads a PostgreSQL credential saved with Export-Clixml (DPAPI-protected).

    .DESCRIPTION
        Export-Clixml stores a PSCredential's password encrypted with the Windows Data
        Protection API for the account that ran it, on that computer. Only that account on
        that computer can read it back, which is why unattended runs (a scheduled task)
        keep their PostgreSQL password in such a file instead of on a command line.

        The file is made once, as the account that will read it:

            Get-Credential postgres | Export-Clixml -Path D:\pgreconcile\pettycash.credential.xml

        A file that holds no PSCredential, or one encrypted for another account or
        computer, is a terminating error that says so.

    .PARAMETER Path
        The file written by Export-Clixml.

    .OUTPUTS
        System.Management.Automation.PSCredential
    #>
    [CmdletBinding()]
    [OutputType([System.Management.Automation.PSCredential])]
    param(
        [Parameter(Mandatory)]
        [ValidateNotNullOrEmpty()]
        [string]$Path
    )

    $fullPath = Resolve-PgReconcilePath -Path $Path
    $reason = $null
    $credential = $null
    try {
        $credential = Import-Clixml -LiteralPath $fullPath
    }
    catch [System.Security.Cryptography.CryptographicException] {
        $reason = "it was encrypted by another account or on another computer " +
            "($($_.Exception.Message.Trim())); create it again as $([Environment]::UserDomainName)\" +
            "$([Environment]::UserName) on $([Environment]::MachineName)"
    }
    if (-not $reason -and $credential -isnot [System.Management.Automation.PSCredential]) {
        $reason = 'it does not hold a PSCredential; write it with Get-Credential | Export-Clixml'
    }
    if ($reason) {
        $exception = [System.InvalidOperationException]::new(
            "Cannot read the PostgreSQL credential in ${fullPath}: $reason.")
        $record = [System.Management.Automation.ErrorRecord]::new($exception,
            'PgReconcile.CredentialUnreadable', [System.Management.Automation.ErrorCategory]::InvalidData,
            $fullPath)
        $PSCmdlet.ThrowTerminatingError($record)
    }
    $credential
}
