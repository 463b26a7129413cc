// Vigil's built-in rule set: compiled into the binary so a fresh install detects the
// standard anti-virus test files with no download. Detection names come from each
// rule's `name` metadata (see docs/scanner.md, "Detection names").

rule eicar_standard {
    meta:
        name = "Vigil.Test.EICAR"
        description = "The EICAR anti-virus test file: the 68-byte string at offset 0, optionally followed by whitespace, at most 128 bytes"
    strings:
        $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    condition:
        $eicar at 0 and filesize <= 128
}

rule eicar_embedded {
    meta:
        name = "Vigil.Test.EICAR-Embedded"
        description = "The EICAR string anywhere else: inside a larger file, UTF-16, or base64 (mail attachments)"
    strings:
        $plain = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*" ascii wide
        $b64 = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*" base64 base64wide
    condition:
        not eicar_standard and any of them
}

rule gtube {
    meta:
        name = "Vigil.Test.GTUBE"
        description = "The Generic Test for Unsolicited Bulk Email string, used to test mail-filter paths"
    strings:
        $gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
    condition:
        $gtube
}

rule clamav_test_file {
    meta:
        name = "Vigil.Test.ClamAV-TestFile"
        description = "The unpacked ClamAV test executable (clam.exe from clamav-testfiles): a tiny PE with its marker strings"
    strings:
        $marker = "[CLAMAV]"
        $api = "CLAMessageBoxA"
    condition:
        uint16(0) == 0x5A4D and filesize < 64KB and $marker and $api
}

rule php_eval_base64_request {
    meta:
        name = "Vigil.Heuristic.PHP-EvalBase64Request"
        description = "A PHP web shell pattern: eval of base64-decoded request input"
    strings:
        $php = "<?php" nocase
        $eval = /eval\s*\(\s*base64_decode\s*\(\s*\$_(POST|GET|REQUEST|COOKIE)/ nocase
    condition:
        $php and $eval
}

rule lnk_powershell_download {
    meta:
        name = "Vigil.Heuristic.LNK-PowerShellDownload"
        description = "A Windows shortcut that launches PowerShell to download and run code"
    strings:
        $ps = "powershell" ascii wide nocase
        $dl1 = "DownloadString" ascii wide nocase
        $dl2 = "DownloadFile" ascii wide nocase
        $dl3 = "Invoke-WebRequest" ascii wide nocase
    condition:
        uint32(0) == 0x0000004C and filesize < 1MB and $ps and any of ($dl*)
}
